using System.Runtime.InteropServices;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// F16/BF16 conversions on every golden pattern (golden/tensors/conversions): all 65536 16-bit patterns to
/// float, and 400,000 floats (NaNs, infinities, denormals, rounding ties) to F16/BF16. Scalar
/// <see cref="FloatConversions"/> and the F16/BF16 row kernels at every width must agree bit for bit.
/// </summary>
/// <remarks>
/// Which ggml variant we equal: F16 to float equals ggml_fp16_to_fp32 and ggml_cpu_fp16_to_fp32 (F16C) on all
/// patterns. Float to F16 equals ggml_fp32_to_fp16 and _row everywhere; ggml_cpu_fp32_to_fp16 (F16C) differs
/// only on NaN inputs, where it keeps the payload's top bits and we (like the scalar ggml) give sign | 0x7E00.
/// Float to BF16 equals all four ggml variants (ggml_fp32_to_bf16, _row_ref, _row, ggml_cpu_fp32_to_bf16) everywhere.
/// </remarks>
public sealed class FloatConversionTests
{
    private const string Folder = "conversions/";

    public static TheoryData<string> Widths() => KernelGolden.Widths();

    [Theory]
    [MemberData(nameof(Widths))]
    public void All_f16_patterns_widen_like_ggml(string width)
    {
        var expected = KernelGolden.Floats(Folder + "f16_all_to_f32.f32");
        var cpu = KernelGolden.Floats(Folder + "f16_all_to_f32_cpu.f32");
        var patterns = AllPatterns();

        var actual = Widen(GgmlType.F16, width, patterns);

        Assert.Equal(-1, KernelGolden.FirstBitDifference(expected, actual));
        Assert.Equal(-1, KernelGolden.FirstBitDifference(cpu, actual));
        for (var i = 0; i < patterns.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(FloatConversions.HalfToSingle(patterns[i])));
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void All_bf16_patterns_widen_like_ggml(string width)
    {
        var expected = KernelGolden.Floats(Folder + "bf16_all_to_f32.f32");
        var patterns = AllPatterns();

        var actual = Widen(GgmlType.BF16, width, patterns);

        Assert.Equal(-1, KernelGolden.FirstBitDifference(expected, actual));
        for (var i = 0; i < patterns.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(FloatConversions.BFloat16ToSingle(patterns[i])));
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Floats_round_to_f16_like_ggml(string width)
    {
        var input = KernelGolden.Floats(Folder + "f32_input.f32");
        var expected = KernelGolden.UInt16s(Folder + "f32_to_f16.u16");

        var actual = Narrow(GgmlType.F16, width, input);

        AssertSame(expected, actual, input, "ggml_fp32_to_fp16", width);
        AssertSame(KernelGolden.UInt16s(Folder + "f32_to_f16_row.u16"), actual, input, "ggml_fp32_to_fp16_row", width);
        AssertSame(expected, input.Select(FloatConversions.SingleToHalf).ToArray(), input, "ggml_fp32_to_fp16 (scalar)", width);

        // F16C keeps NaN payloads; everything else is the same IEEE round to nearest even.
        var cpu = KernelGolden.UInt16s(Folder + "f32_to_f16_cpu.u16");
        var differences = Enumerable.Range(0, input.Length).Where(i => cpu[i] != actual[i]).ToList();
        Assert.Equal(940, differences.Count);
        Assert.All(differences, i => Assert.True(float.IsNaN(input[i]) && IsHalfNaN(cpu[i]) && IsHalfNaN(actual[i]), $"input {i} ({BitConverter.SingleToUInt32Bits(input[i]):X8})"));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Floats_round_to_bf16_like_ggml(string width)
    {
        var input = KernelGolden.Floats(Folder + "f32_input.f32");
        var expected = KernelGolden.UInt16s(Folder + "f32_to_bf16.u16");

        var actual = Narrow(GgmlType.BF16, width, input);

        AssertSame(expected, actual, input, "ggml_fp32_to_bf16", width);
        AssertSame(KernelGolden.UInt16s(Folder + "f32_to_bf16_row_ref.u16"), actual, input, "ggml_fp32_to_bf16_row_ref", width);
        AssertSame(expected, input.Select(FloatConversions.SingleToBFloat16).ToArray(), input, "ggml_fp32_to_bf16 (scalar)", width);

        // The golden's vectorized variants (AVX512-BF16) gave the same bits on every input, NaNs and denormals included.
        AssertSame(KernelGolden.UInt16s(Folder + "f32_to_bf16_row.u16"), actual, input, "ggml_fp32_to_bf16_row", width);
        AssertSame(KernelGolden.UInt16s(Folder + "f32_to_bf16_cpu.u16"), actual, input, "ggml_cpu_fp32_to_bf16", width);
    }

    private static ushort[] AllPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    private static float[] Widen(GgmlType type, string width, ushort[] patterns) =>
        KernelGolden.Dequantize(GgmlKernelCatalog.Dequantize(type, Enum.Parse<VectorWidth>(width))!, MemoryMarshal.AsBytes(patterns.AsSpan()).ToArray(), patterns.Length);

    private static ushort[] Narrow(GgmlType type, string width, float[] input)
    {
        var bytes = KernelGolden.Quantize(GgmlKernelCatalog.QuantizeActivation(type, Enum.Parse<VectorWidth>(width))!, GgmlTypeTraits.Get(type), input);
        return MemoryMarshal.Cast<byte, ushort>(bytes).ToArray();
    }

    private static bool IsHalfNaN(ushort bits) => (bits & 0x7C00) == 0x7C00 && (bits & 0x03FF) != 0;

    private static void AssertSame(ushort[] expected, ushort[] actual, float[] input, string variant, string width)
    {
        Assert.Equal(expected.Length, actual.Length);
        var at = expected.AsSpan().CommonPrefixLength(actual);
        Assert.True(at == expected.Length, $"{variant} at {width}: input {at} ({(at < input.Length ? BitConverter.SingleToUInt32Bits(input[at]) : 0):X8}) gives {(at < actual.Length ? actual[at] : 0):X4}, ggml {(at < expected.Length ? expected[at] : 0):X4}");
    }
}
