using Microsoft.CodeAnalysis;

namespace QuantPS.Generators.Tests;

/// <summary>Kernel declarations that do not fit their fields, codebooks, pairings or field orders: QPSG010-QPSG015.</summary>
public sealed class KernelDiagnosticTests
{
    /// <summary>A valid activation format the samples can pair with.</summary>
    private const string Q8_0 = """

        [GgmlBlock(8, "Q8_0", "q8_0", blockSize: 32, typeSize: 34)]
        [Scale("D", NumberFormat.F16)]
        [Quants("Qs", bits: 8, count: 32, Signed = true)]
        [Reconstruct(ValueScheme.Scaled)]
        [Activation("Q8_0")]
        [ActivationQuantizer(QuantizerRule.AbsMax)]
        public partial struct BlockQ8_0;
        """;

    /// <summary>(case, source, expected id, start of the source text the diagnostic points at).</summary>
    public static TheoryData<string, string, string, string> BadSamples => new()
    {
        {
            "min field with a scheme that ignores it",
            Q4("[Min(\"M\", NumberFormat.F16)]", "[Reconstruct(ValueScheme.Scaled, Offset = -8)]", typeSize: 20),
            "QPSG010", "Reconstruct("
        },
        {
            "ScaledWithMin without a min",
            Q4("", "[Reconstruct(ValueScheme.ScaledWithMin)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "offset that overflows an int8",
            Q4("", "[Reconstruct(ValueScheme.Scaled, Offset = 120)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "codebook scheme on quants without a codebook",
            Q4("", "[Reconstruct(ValueScheme.Codebook)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "element scheme on a quantized block",
            Q4("", "[Reconstruct(ValueScheme.Element)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "activation without a reconstruction",
            """
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
            [Activation("Q8_0")]
            public partial struct BlockQ4_0;
            """ + Q8_0,
            "QPSG010", "Activation("
        },
        {
            "split halves of 8-bit quants",
            """
            [GgmlBlock(2, "Q8_9", "q8_9", blockSize: 32, typeSize: 34)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 8, count: 32, Signed = true, Order = QuantOrder.SplitHalves)]
            [Reconstruct(ValueScheme.Scaled)]
            public partial struct BlockQ8_9;
            """,
            "QPSG015", "Quants("
        },
        {
            "interleaved runs of 8-bit quants",
            K4(quants: "[Quants(\"Qs\", bits: 8, count: 128, Order = QuantOrder.Interleaved32)]", blockSize: 128),
            "QPSG015", "Quants("
        },
        {
            "interleaved runs that do not fill the block",
            K4(quants: "[Quants(\"Qs\", bits: 4, count: 32, Order = QuantOrder.Interleaved32)]", blockSize: 32, typeSize: 32),
            "QPSG015", "Quants("
        },
        {
            "split halves in runs of 32 on 2-bit quants",
            K4(quants: "[Quants(\"Qs\", bits: 2, count: 256, Order = QuantOrder.SplitHalves32)]", typeSize: 80),
            "QPSG015", "Quants("
        },
        {
            "split halves in runs of 16 on 2-bit quants",
            K4(quants: "[Quants(\"Qs\", bits: 2, count: 256, Order = QuantOrder.SplitHalves16)]", typeSize: 80),
            "QPSG015", "Quants("
        },
        {
            "IQ4_XS scale packing on sub-scales with mins",
            K4(scales: "[SubScales(\"Scales\", bits: 6, count: 8, WithMins = true, Order = QuantOrder.ScalesHighLow)]"),
            "QPSG015", "SubScales("
        },
        {
            "get_scale_min_k4 packing on sub-scales without mins",
            K4(scales: "[SubScales(\"Scales\", bits: 6, count: 16, Order = QuantOrder.ScaleMinK4)]"),
            "QPSG015", "SubScales("
        },
        {
            "Q3_K scale packing on 4-bit sub-scales",
            K4(scales: "[SubScales(\"Scales\", bits: 4, count: 16, WithMins = true, Order = QuantOrder.ScalesK3)]", typeSize: 148),
            "QPSG015", "SubScales("
        },
        {
            "a sub-scale packing on quants",
            K4(quants: "[Quants(\"Qs\", bits: 4, count: 256, Order = QuantOrder.ScaleMinPairs)]"),
            "QPSG015", "Quants("
        },
        {
            "sub-scales with a scheme that ignores them",
            K4(reconstruct: "[Reconstruct(ValueScheme.ScaledWithMin)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "SubScaled with sub-block mins",
            K4(reconstruct: "[Reconstruct(ValueScheme.SubScaled)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "SubScaledWithMin without sub-block mins",
            K4(scales: "[SubScales(\"Scales\", bits: 6, count: 16, Order = QuantOrder.ScalesK3)]"),
            "QPSG010", "Reconstruct("
        },
        {
            "SubScaled without sub-scales",
            """
            [GgmlBlock(14, "Q6_K", "q6_K", blockSize: 256, typeSize: 194)]
            [Quants("Ql", bits: 4, count: 256, Order = QuantOrder.Interleaved64)]
            [HighBits("Qh", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
            [Scale("D", NumberFormat.F16)]
            [Reconstruct(ValueScheme.SubScaled, Offset = -32)]
            public partial struct BlockQ6_K;
            """,
            "QPSG010", "Reconstruct("
        },
        {
            "sub-scales that do not split the block",
            K4(scales: "[SubScales(\"Scales\", bits: 4, count: 12, WithMins = true, Order = QuantOrder.ScaleMinPairs)]", typeSize: 144),
            "QPSG010", "Reconstruct("
        },
        {
            "a K-quant paired with a 32-value activation",
            K4(activation: "Q8_0") + Q8_0,
            "QPSG014", "Activation("
        },
        {
            "codebook that is not declared",
            Q4("", "[Reconstruct(ValueScheme.Codebook)]", codebook: "Missing"),
            "QPSG011", "Quants("
        },
        {
            "codebook of the wrong size",
            Q4("", "[Reconstruct(ValueScheme.Codebook)]", codebook: "Small") + """

            [Codebook("Small", 1, 2, 3)]
            internal static class Books;
            """,
            "QPSG011", "Quants("
        },
        {
            "codebook value outside int8",
            """
            [Codebook("Wide", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 300)]
            internal static class Books;
            """ + Q8_0,
            "QPSG011", "Codebook("
        },
        {
            "codebook multiplier that is not a power of two",
            """
            [Codebook("Odd", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, Multiplier = 0.3)]
            internal static class Books;
            """ + Q8_0,
            "QPSG011", "Codebook("
        },
        {
            "codebook declared twice",
            """
            [Codebook("Twice", 0, 1)]
            [Codebook("Twice", 0, 2)]
            internal static class Books;
            """ + Q8_0,
            "QPSG011", "Codebook(\"Twice\", 0, 2)"
        },
        {
            "activation type that does not exist",
            Q4("", "[Reconstruct(ValueScheme.Scaled, Offset = -8)]", activation: "Q8_9"),
            "QPSG012", "Activation("
        },
        {
            "activation type without a quantizer",
            Q4("", "[Reconstruct(ValueScheme.Scaled, Offset = -8)]", activation: "F16") + """

            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            [Reconstruct(ValueScheme.Element)]
            public partial struct ElementF16;
            """,
            "QPSG012", "Activation("
        },
        {
            "AbsMax quantizer on 4-bit quants",
            Q4("", "[Reconstruct(ValueScheme.Scaled, Offset = -8)]\n[ActivationQuantizer(QuantizerRule.AbsMax)]", activation: "Q4_0"),
            "QPSG013", "ActivationQuantizer("
        },
        {
            "Convert quantizer on a block",
            Q8_0.Replace("QuantizerRule.AbsMax", "QuantizerRule.Convert", StringComparison.Ordinal),
            "QPSG013", "ActivationQuantizer("
        },
        {
            "a description no family emits yet (Q4_K's nibbles in sequential order)",
            K4(quants: "[Quants(\"Qs\", bits: 4, count: 256)]"),
            "QPSG014", "Reconstruct("
        },
        {
            "a description no family emits yet (3-bit quants)",
            """
            [GgmlBlock(41, "Q3_X", "q3_x", blockSize: 128, typeSize: 50)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 3, count: 128)]
            [Reconstruct(ValueScheme.Scaled)]
            public partial struct BlockQ3_X;
            """,
            "QPSG014", "Reconstruct("
        },
        {
            "a pairing no family emits (32-value blocks with a 256-value activation)",
            Q4("", "[Reconstruct(ValueScheme.Scaled, Offset = -8)]", activation: "Q8_K") + """

            [GgmlBlock(15, "Q8_K", "q8_K", blockSize: 256, typeSize: 292)]
            [Scale("D", NumberFormat.F32)]
            [Quants("Qs", bits: 8, count: 256, Signed = true)]
            [GroupSums("BSums", bits: 16, count: 16, Signed = true)]
            [Reconstruct(ValueScheme.Scaled)]
            [Activation("Q8_K")]
            [ActivationQuantizer(QuantizerRule.SignedAbsMax)]
            public partial struct BlockQ8_K;
            """,
            "QPSG014", "Activation("
        },
        {
            "a quantizer rule no family emits for this block size",
            Q8_0.Replace("blockSize: 32, typeSize: 34", "blockSize: 128, typeSize: 130", StringComparison.Ordinal).Replace("count: 32", "count: 128", StringComparison.Ordinal),
            "QPSG014", "ActivationQuantizer("
        },
    };

    [Theory]
    [MemberData(nameof(BadSamples))]
    public void Bad_kernel_declaration_is_reported_where_it_is_written(string why, string body, string expectedId, string expectedTextStart)
    {
        var (result, output) = GeneratorHarness.Run("namespace QuantPS.Kernels.Formats;\n\n" + body);

        var diagnostic = result.Diagnostics.FirstOrDefault(d => d.Id == expectedId);
        Assert.True(diagnostic is not null, $"{why}: expected {expectedId}, got [{string.Join(", ", result.Diagnostics)}]");
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        var path = diagnostic.Location.GetLineSpan().Path;
        var tree = output.SyntaxTrees.Single(t => t.FilePath == path);
        var pointedAt = tree.GetText(TestContext.Current.CancellationToken).ToString(diagnostic.Location.SourceSpan);
        Assert.StartsWith(expectedTextStart, pointedAt, StringComparison.Ordinal);

        // A rejected description still compiles: its struct and the table are emitted, its kernels are not.
        Assert.Empty(GeneratorHarness.Errors(output));
    }

    /// <summary>Q4_K as declared in KQuantBlocks.cs, with one part swapped out; no activation unless named.</summary>
    private static string K4(
        string? quants = null, string? scales = null, string? reconstruct = null, int blockSize = 256, int typeSize = 144, string? activation = null) => $$"""
        [GgmlBlock(12, "Q4_K", "q4_K", blockSize: {{blockSize}}, typeSize: {{typeSize}})]
        [Scale("D", NumberFormat.F16)]
        [Min("DMin", NumberFormat.F16)]
        {{scales ?? "[SubScales(\"Scales\", bits: 6, count: 8, WithMins = true, Order = QuantOrder.ScaleMinK4)]"}}
        {{quants ?? "[Quants(\"Qs\", bits: 4, count: 256, Order = QuantOrder.Interleaved32)]"}}
        {{reconstruct ?? "[Reconstruct(ValueScheme.SubScaledWithMin)]"}}
        {{(activation is null ? "" : $"[Activation(\"{activation}\")]")}}
        public partial struct BlockQ4_K;
        """;

    private static string Q4(string extraField, string reconstruct, int typeSize = 18, string? codebook = null, string activation = "Q8_0")
    {
        var book = codebook is null ? "" : $", Codebook = \"{codebook}\"";
        var pairing = activation == "Q8_0" ? Q8_0 : "";
        return $$"""
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: {{typeSize}})]
            [Scale("D", NumberFormat.F16)]
            {{extraField}}
            [Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves{{book}})]
            {{reconstruct}}
            [Activation("{{activation}}")]
            public partial struct BlockQ4_0;
            """ + pairing;
    }
}
