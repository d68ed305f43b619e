using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// DotPrepared (the matrix-vector dot over an activation row rearranged once: Q4_0, Q8_0) against the scalar dot product, on
/// llama.cpp's golden rows at every width: whole 16-block steps and a tail that goes through the row's Q8_0 copy. The
/// arithmetic differs only in the order float products are summed, so the results agree within that rounding.
/// </summary>
public sealed class DotPreparedTests
{
    // Relative to the sum of |w x a| over the row: a few float roundings per block.
    private const double SummationTolerance = 1e-6;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in KernelGolden.WeightTypes.Where(name => KernelGolden.Info(name).DotPrepared is not null))
        foreach (var width in KernelWidth.All)
        {
            data.Add(type, width.ToString());
        }

        return data;
    }

    [Fact]
    public void Q4_0_and_Q8_0_have_a_prepared_dot()
    {
        Assert.Equal(new[] { GgmlType.Q4_0, GgmlType.Q8_0 }, GgmlTypeTraits.All.Where(info => info.DotPrepared is not null).Select(info => info.Type).OrderBy(t => t));
        Assert.Contains("q8_0", KernelGolden.WeightTypes);
        Assert.Contains("q4_0", KernelGolden.WeightTypes); // so the theory below runs
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_prepared_dot_is_the_dot_product(string ggmlName, string widthName)
    {
        var (width, info, activation, prepared, scalar, weights) = Setup(ggmlName, widthName);
        var source = KernelGolden.Floats("activation.f32").AsSpan(0, KernelGolden.Columns).ToArray();

        // Two whole steps of 16 blocks; and one step with 13 blocks left over.
        foreach (var count in new[] { KernelGolden.Columns, KernelGolden.Columns - (3 * info.BlockSize) })
        {
            var quantized = KernelGolden.Quantize(activation.QuantizeActivation!, activation, source.AsSpan(0, count).ToArray());
            var bytes = (int)info.PreparedActivationBytes!(count);
            var row = Prepare(info, quantized, count, canary: 64);
            Assert.All(row.AsSpan(bytes).ToArray(), b => Assert.Equal(0xA5, b)); // preparing writes nothing past the size it states
            var values = KernelGolden.Dequantize(activation.DequantizeReference!, quantized, count);
            for (var r = 0; r < KernelGolden.Rows; r++)
            {
                var weightRow = KernelGolden.Row(weights, info, r);
                var w = KernelGolden.Dequantize(info.DequantizeReference!, weightRow, KernelGolden.Columns);
                var magnitude = Enumerable.Range(0, count).Sum(i => Math.Abs((double)w[i] * values[i]));
                var expected = KernelGolden.Dot(scalar, weightRow, quantized, count);
                var actual = KernelGolden.Dot(prepared, weightRow, row, count);
                Assert.True(Math.Abs(actual - expected) <= SummationTolerance * magnitude,
                    $"{ggmlName} {width} n {count} row {r}: prepared {actual} vs scalar {expected} (|w·a| {magnitude})");
            }
        }
    }

    // The 512-bit dot takes weight scales as half x 2^-112 by a shift and a mask, exact for subnormals; inf and NaN
    // would come out finite, so a row holding one is redone by Dot (block 5 lies inside the first whole step).
    [Theory]
    [MemberData(nameof(Cases))]
    public void Subnormal_infinite_and_NaN_weight_scales_give_the_dot_products_answer(string ggmlName, string widthName)
    {
        var (width, info, activation, prepared, scalar, weights) = Setup(ggmlName, widthName);
        var count = KernelGolden.Columns;
        var quantized = KernelGolden.Quantize(activation.QuantizeActivation!, activation, KernelGolden.Floats("activation.f32").AsSpan(0, count).ToArray());
        var row = Prepare(info, quantized, count, canary: 0);

        var values = KernelGolden.Dequantize(activation.DequantizeReference!, quantized, count);
        foreach (var (scale, special) in new (ushort, bool)[] { (0x0001, false), (0x83FF, false), (0x0200, false), (0x7C00, true), (0xFC00, true), (0x7E00, true), (0x7C01, true) })
        {
            var weightRow = KernelGolden.Row(weights, info, 0).ToArray();
            // A special scale in one block; a subnormal one in every block, so the whole sum runs on them.
            for (var block = special ? 5 : 0; block < (special ? 6 : count / info.BlockSize); block++)
            {
                BitConverter.TryWriteBytes(weightRow.AsSpan(block * info.TypeSize), scale);
            }

            var expected = KernelGolden.Dot(scalar, weightRow, quantized, count);
            var actual = KernelGolden.Dot(prepared, weightRow, row, count);
            if (special)
            {
                // Not always the scalar's value: a vector dot multiplies the scale into lanes of partial sums, and an
                // infinite scale times a lane summing to 0 is NaN (as in ggml's vector dots).
                Assert.True(!float.IsFinite(expected), $"scale 0x{scale:X4}: the scalar dot gave {expected}");
                Assert.True(!float.IsFinite(actual) && (!float.IsNaN(expected) || float.IsNaN(actual)),
                    $"{ggmlName} {width} scale 0x{scale:X4}: prepared {actual} vs scalar {expected}");
                continue;
            }

            var w = KernelGolden.Dequantize(info.DequantizeReference!, weightRow, count);
            var magnitude = Enumerable.Range(0, count).Sum(i => Math.Abs((double)w[i] * values[i]));
            Assert.True(Math.Abs(actual - expected) <= SummationTolerance * magnitude,
                $"{ggmlName} {width} scale 0x{scale:X4}: prepared {actual} vs scalar {expected} (|w·a| {magnitude})");
        }
    }

    // The width, the type and its activation type, the prepared and scalar dots, and llama.cpp's golden weight rows.
    private static (VectorWidth Width, GgmlTypeInfo Info, GgmlTypeInfo Activation, DotKernel Prepared, DotKernel Scalar, byte[] Weights) Setup(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        return (width, info, GgmlTypeTraits.Get(info.ActivationType), GgmlKernelCatalog.DotPrepared(info.Type, width)!,
            GgmlKernelCatalog.Dot(info.Type, VectorWidth.Scalar)!, KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin"));
    }

    // The prepared activation row of a quantized one, followed by canary bytes 0xA5.
    private static unsafe byte[] Prepare(GgmlTypeInfo info, byte[] quantized, int count, int canary)
    {
        var bytes = (int)info.PreparedActivationBytes!(count);
        var row = new byte[bytes + canary];
        row.AsSpan(bytes).Fill(0xA5);
        fixed (byte* q = quantized)
        fixed (byte* p = row)
        {
            info.PrepareActivation!(q, p, count);
        }

        return row;
    }
}
