using Microsoft.CodeAnalysis;

namespace QuantPS.Generators.Tests;

/// <summary>Every inconsistency in a description is a QPSG error at the declaration that causes it.</summary>
public sealed class DiagnosticTests
{
    /// <summary>(case, source, expected id, start of the source text the diagnostic points at).</summary>
    public static TheoryData<string, string, string, string> BadSamples => new()
    {
        {
            "fields add up to 18 bytes, declared 20",
            """
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 20)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 4, count: 32)]
            public partial struct BlockQ4_0;
            """,
            "QPSG001", "GgmlBlock(2"
        },
        {
            "quants carry 32 values, block declares 64",
            """
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 64, typeSize: 18)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 4, count: 32)]
            public partial struct BlockQ4_0;
            """,
            "QPSG002", "GgmlBlock(2"
        },
        {
            "block without fields",
            """
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
            public partial struct BlockQ4_0;
            """,
            "QPSG001", "GgmlBlock(2"
        },
        {
            "two live types with one id",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;

            [GgmlBlock(1, "BF16", "bf16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.BF16)]
            public partial struct ElementBF16;
            """,
            "QPSG003", "GgmlBlock(1, \"BF16\""
        },
        {
            "live type reusing a retired id",
            """
            [GgmlBlock(4, "Q4_9", "q4_9", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementQ49;

            [RetiredGgmlType(4, "Q4_2")]
            internal static class Retired;
            """,
            "QPSG003", "GgmlBlock(4"
        },
        {
            "two types with one name, differing in case",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;

            [GgmlBlock(3, "Half", "F16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementHalf;
            """,
            "QPSG004", "GgmlBlock(3"
        },
        {
            "live type reusing a retired name",
            """
            [GgmlBlock(9, "Q4_2", "q4_2", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementQ42;

            [RetiredGgmlType(4, "Q4_2")]
            internal static class Retired;
            """,
            "QPSG004", "GgmlBlock(9"
        },
        { "zero bits", Block("""[Quants("Qs", bits: 0, count: 32)]"""), "QPSG005", "Quants(" },
        { "more than 64 bits", Block("""[Quants("Qs", bits: 65, count: 32)]"""), "QPSG005", "Quants(" },
        { "absurdly large field", Block("""[Quants("Qs", bits: 64, count: 1000000)]"""), "QPSG005", "Quants(" },
        { "zero count", Block("""[Quants("Qs", bits: 4, count: 0)]"""), "QPSG005", "Quants(" },
        { "odd word width", Block("""[Quants("Qs", bits: 4, count: 32, WordBits = 12)]"""), "QPSG005", "Quants(" },
        { "bits not a whole number of bytes", Block("""[Quants("Qs", bits: 3, count: 3)]"""), "QPSG005", "Quants(" },
        { "bits not a whole number of words", Block("""[Quants("Qs", bits: 4, count: 2, WordBits = 16)]"""), "QPSG005", "Quants(" },
        { "field name used twice", Block("""[Quants("D", bits: 4, count: 32)]"""), "QPSG005", "Quants(" },
        { "field name taken by a generated member", Block("""[Quants("BlockSize", bits: 4, count: 32)]"""), "QPSG005", "Quants(" },
        { "field name is not an identifier", Block("""[Quants("2qs", bits: 4, count: 32)]"""), "QPSG005", "Quants(" },
        { "field name is a keyword", Block("""[Quants("fixed", bits: 4, count: 32)]"""), "QPSG005", "Quants(" },
        { "scalar without a width", Block("""[Min("M", NumberFormat.Integer)]"""), "QPSG005", "Min(" },
        { "scalar format out of range", Block("""[Min("M", (NumberFormat)99)]"""), "QPSG005", "Min(" },
        { "float format that does not fit the bits", Block("""[SubScales("S", bits: 8, count: 2, Format = NumberFormat.F16)]"""), "QPSG005", "SubScales(" },
        { "grid index without values", Block("""[GridIndex("G", bits: 8, count: 4, valuesPerIndex: 0)]"""), "QPSG005", "GridIndex(" },
        { "more trits than a byte holds", Block("""[Trits("T", count: 60, perByte: 6)]"""), "QPSG005", "Trits(" },
        { "trits not a whole number of bytes", Block("""[Trits("T", count: 7, perByte: 5)]"""), "QPSG005", "Trits(" },
        {
            "element field beside others",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 4)]
            [Element("Value", NumberFormat.F16)]
            [Scale("D", NumberFormat.F16)]
            public partial struct ElementF16;
            """,
            "QPSG005", "Element("
        },
        {
            "block attribute missing arguments",
            """
            [GgmlBlock(2, "Q4_0")]
            [Scale("D", NumberFormat.F16)]
            public partial struct BlockQ4_0;
            """,
            "QPSG006", "GgmlBlock(2"
        },
        {
            "field attribute missing arguments",
            """
            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 4)]
            public partial struct BlockQ4_0;
            """,
            "QPSG005", "Quants("
        },
        {
            "name is not an enum member name",
            """
            [GgmlBlock(1, "4bit", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;
            """,
            "QPSG006", "GgmlBlock(1"
        },
        {
            "ggml name would break a string literal",
            """
            [GgmlBlock(1, "F16", "f\"16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;
            """,
            "QPSG006", "GgmlBlock(1"
        },
        {
            "zero block size",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 0, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;
            """,
            "QPSG006", "GgmlBlock(1"
        },
        {
            "retired id with a bad name",
            """
            [RetiredGgmlType(4, "")]
            internal static class Retired;
            """,
            "QPSG006", "RetiredGgmlType(4"
        },
        {
            "field kind the generator does not know",
            """
            public sealed class LutAttribute(string name) : BlockFieldAttribute(name);

            [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
            [Scale("D", NumberFormat.F16)]
            [Quants("Qs", bits: 4, count: 32)]
            [Lut("Table")]
            public partial struct BlockQ4_0;
            """,
            "QPSG007", "Lut("
        },
        {
            "struct is not partial",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public struct ElementF16;
            """,
            "QPSG008", "ElementF16"
        },
        {
            "struct is nested",
            """
            public static partial class Outer
            {
                [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
                [Element("Value", NumberFormat.F16)]
                public partial struct ElementF16;
            }
            """,
            "QPSG008", "ElementF16"
        },
        {
            "struct is generic",
            """
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16<T>;
            """,
            "QPSG008", "ElementF16"
        },
    };

    [Theory]
    [MemberData(nameof(BadSamples))]
    public void Bad_description_is_reported_at_its_declaration(string why, string body, string expectedId, string expectedTextStart)
    {
        var (result, output) = GeneratorHarness.Run(Namespaced(body));

        var diagnostic = result.Diagnostics.FirstOrDefault(d => d.Id == expectedId);
        Assert.True(diagnostic is not null, $"{why}: expected {expectedId}, got [{string.Join(", ", result.Diagnostics)}]");
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);

        // Models keep positions as path + span (no syntax trees), so map back through the path.
        var path = diagnostic.Location.GetLineSpan().Path;
        var tree = output.SyntaxTrees.Single(t => t.FilePath == path);
        var pointedAt = tree.GetText(TestContext.Current.CancellationToken).ToString(diagnostic.Location.SourceSpan);
        Assert.StartsWith(expectedTextStart, pointedAt, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_descriptor_id_is_covered_by_a_bad_sample_except_the_internal_failure()
    {
        var covered = BadSamples.Concat(KernelDiagnosticTests.BadSamples).Select(row => row.Data.Item3).ToHashSet();
        var ids = Enumerable.Range(1, 14).Select(i => $"QPSG{i:000}").Where(id => id != "QPSG009");
        Assert.All(ids, id => Assert.Contains(id, covered));
    }

    [Fact]
    public void Duplicate_keeps_the_first_declaration_in_the_table()
    {
        var (result, output) = GeneratorHarness.Run(Namespaced("""
            [GgmlBlock(1, "F16", "f16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.F16)]
            public partial struct ElementF16;

            [GgmlBlock(1, "BF16", "bf16", blockSize: 1, typeSize: 2)]
            [Element("Value", NumberFormat.BF16)]
            public partial struct ElementBF16;
            """));

        Assert.Equal("QPSG003", Assert.Single(result.Diagnostics).Id);
        var table = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.GgmlTypeTraits.g.cs");
        Assert.Contains("F16 = 1,", table);
        Assert.DoesNotContain("BF16 = 1,", table);
        Assert.Empty(GeneratorHarness.Errors(output));
    }

    /// <summary>Broken or half-typed code must never make the generator throw or report an internal failure.</summary>
    [Theory]
    [InlineData("[GgmlBlock(] public partial struct B;")]
    [InlineData("[GgmlBlock(1, 2, 3, 4, 5)] [Scale(1, 2)] public partial struct B;")]
    [InlineData("[GgmlBlock(1, \"A\", \"a\", blockSize: 1, typeSize: 2)] [Element(null!, NumberFormat.F16)] public partial struct B;")]
    [InlineData("[GgmlBlock(1, \"A\", \"a\", blockSize: 1, typeSize: 2)] [Element(\"V\", NumberFormat.F16)] public partial class B;")]
    [InlineData("[GgmlBlock(1, \"A\", \"a\", blockSize: 1, typeSize: 2)] [Element(\"V\", NumberFormat.F16)] public partial record struct B;")]
    [InlineData("[GgmlBlock(1, \"A\", \"a\", blockSize: 1, typeSize: 2)] [Element(\"V\", NumberFormat.F16)] public partial struct B; public partial struct B { }")]
    [InlineData("[GgmlBlock(1, \"A\", \"a\", blockSize: 1, typeSize: 2)] [Element(\"V\", NumberFormat.F16)] [Element(\"V\", NumberFormat.F16)] public partial struct B;")]
    [InlineData("[RetiredGgmlType] internal static class R; [RetiredGgmlType(4, \"X\")] [RetiredGgmlType(4, \"X\")] internal static class S;")]
    [InlineData("[GgmlBlock(uint.MaxValue, \"A\", \"a\", blockSize: int.MaxValue, typeSize: int.MaxValue)] [Quants(\"Q\", bits: 64, count: int.MaxValue)] public partial struct B;")]
    public void Generator_survives_broken_code(string body)
    {
        var (result, _) = GeneratorHarness.Run(Namespaced(body));

        Assert.DoesNotContain(result.Diagnostics, d => d.Id == "QPSG009");
    }

    private static string Block(string field) => $$"""
        [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
        [Scale("D", NumberFormat.F16)]
        {{field}}
        public partial struct BlockQ4_0;
        """;

    private static string Namespaced(string body) => "namespace QuantPS.Kernels.Formats;\n\n" + body;
}
