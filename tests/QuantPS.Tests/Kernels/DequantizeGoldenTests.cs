using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// Every dequantizer (the scalar reference and each vector width) against ggml's to_float,
/// bit for bit, on the golden rows quantized with and without an importance matrix.
/// </summary>
public sealed class DequantizeGoldenTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var type in KernelGolden.WeightTypes)
        {
            foreach (var variant in KernelGolden.GoldenVariants(type))
            {
                foreach (var path in KernelGolden.Paths())
                {
                    data.Add(type, variant, path);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantized_rows_equal_ggml_bit_for_bit(string type, string variant, string path)
    {
        if (!KernelGolden.Variants(type).Contains(variant))
        {
            Assert.Skip($"{type} has no {variant}.bin in the golden (ggml quantizes it without an importance matrix)");
        }

        var info = KernelGolden.Info(type);
        var rows = KernelGolden.Bytes($"{type}/{variant}.bin");
        var expected = KernelGolden.Floats($"{type}/dequant{KernelGolden.Suffix(variant)}.f32");
        var kernel = KernelGolden.Dequantizer(info.Type, path);

        for (var row = 0; row < KernelGolden.Rows; row++)
        {
            var actual = KernelGolden.Dequantize(kernel, KernelGolden.Row(rows, info, row), KernelGolden.Columns);
            var wanted = expected.AsSpan(row * KernelGolden.Columns, KernelGolden.Columns);
            var at = KernelGolden.FirstBitDifference(wanted, actual);
            Assert.True(at < 0, $"{type} {variant} {path}: row {row} value {at} is {(at < 0 ? 0 : actual[at])}, ggml has {(at < 0 ? 0 : wanted[at])}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rows_of_a_few_blocks_equal_ggml_bit_for_bit(string type, string variant, string path)
    {
        // 1 to 7 blocks: shorter than the widest step, or leaving one to three blocks over after it (a pair goes
        // through the narrower step, the rest through the reference); each value is ggml's whatever path it takes.
        if (!KernelGolden.Variants(type).Contains(variant))
        {
            Assert.Skip($"{type} has no {variant}.bin in the golden (ggml quantizes it without an importance matrix)");
        }

        var info = KernelGolden.Info(type);
        var row = KernelGolden.Row(KernelGolden.Bytes($"{type}/{variant}.bin"), info, 0);
        var expected = KernelGolden.Floats($"{type}/dequant{KernelGolden.Suffix(variant)}.f32");
        var kernel = KernelGolden.Dequantizer(info.Type, path);
        for (var blocks = 1; blocks <= 7 && blocks * info.BlockSize <= KernelGolden.Columns; blocks++)
        {
            var count = blocks * info.BlockSize;
            var actual = KernelGolden.Dequantize(kernel, row, count);
            var at = KernelGolden.FirstBitDifference(expected.AsSpan(0, count), actual);
            Assert.True(at < 0, $"{type} {variant} {path}: {blocks} blocks, value {at} is {(at < 0 ? 0 : actual[at])}, ggml has {(at < 0 ? 0 : expected[at])}");
        }
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("V512")]
    [InlineData("V256")]
    [InlineData("V128")]
    [InlineData("Scalar")]
    public void F32_rows_are_copied(string path)
    {
        var values = KernelGolden.Floats("input.f32");
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);

        var actual = KernelGolden.Dequantize(KernelGolden.Dequantizer(GgmlType.F32, path), bytes, values.Length);

        Assert.Equal(-1, KernelGolden.FirstBitDifference(values, actual));
    }

    [Theory]
    [InlineData("V512")]
    [InlineData("V256")]
    [InlineData("V128")]
    [InlineData("Scalar")]
    public void Activation_formats_dequantize_like_their_reference(string path)
    {
        var input = KernelGolden.Floats("input.f32");
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q8_K })
        {
            var info = GgmlTypeTraits.Get(type);
            var bytes = KernelGolden.Quantize(info.QuantizeActivation!, info, input);

            var expected = KernelGolden.Dequantize(info.DequantizeReference!, bytes, input.Length);
            var actual = KernelGolden.Dequantize(KernelGolden.Dequantizer(type, path), bytes, input.Length);

            Assert.Equal(-1, KernelGolden.FirstBitDifference(expected, actual));
        }
    }
}

/// <summary>The kernels' own F16 scale conversion (a 64K-entry table) on every pattern, against ggml's algorithm.</summary>
public sealed class ScaleConversionTests
{
    [Theory]
    [InlineData("V512")]
    [InlineData("V256")]
    [InlineData("V128")]
    public void Every_f16_scale_dequantizes_like_the_reference(string width)
    {
        // One Q8_0 block per pattern: scale = pattern, first quant 1, so value 0 is the scale itself.
        var info = GgmlTypeTraits.Get(GgmlType.Q8_0);
        var rows = new byte[65536 * info.TypeSize];
        for (var pattern = 0; pattern < 65536; pattern++)
        {
            BitConverter.TryWriteBytes(rows.AsSpan(pattern * info.TypeSize), (ushort)pattern);
            rows[(pattern * info.TypeSize) + 2] = 1;
        }

        var count = 65536L * info.BlockSize;
        var expected = KernelGolden.Dequantize(info.DequantizeReference!, rows, count);
        var actual = KernelGolden.Dequantize(GgmlKernelCatalog.Dequantize(GgmlType.Q8_0, Enum.Parse<VectorWidth>(width))!, rows, count);

        Assert.Equal(-1, KernelGolden.FirstBitDifference(expected, actual));
        Assert.Equal(BitConverter.SingleToInt32Bits(FloatConversions.HalfToSingle(0x7C01)), BitConverter.SingleToInt32Bits(expected[(0x7C01 * 32) + 0]));
    }

    [Fact]
    public void Every_f16_scale_enters_the_scalar_dot_exactly()
    {
        var info = GgmlTypeTraits.Get(GgmlType.Q8_0);
        var block = new byte[info.TypeSize];
        var act = new byte[info.TypeSize];
        BitConverter.TryWriteBytes(act, (ushort)0x3C00); // 1.0
        block[2] = 1;
        act[2] = 1;
        var dot = GgmlKernelCatalog.Dot(GgmlType.Q8_0, VectorWidth.Scalar)!;
        for (var pattern = 0; pattern < 65536; pattern++)
        {
            BitConverter.TryWriteBytes(block, (ushort)pattern);
            // The dot starts its sum at +0, so -0 comes out as +0.
            var expected = 0f + FloatConversions.HalfToSingle((ushort)pattern);
            var actual = KernelGolden.Dot(dot, block, act, info.BlockSize);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"pattern {pattern:X4}: {actual} vs {expected}");
        }
    }
}
