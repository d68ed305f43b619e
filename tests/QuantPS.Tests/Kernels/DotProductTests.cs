using System.Runtime.InteropServices;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// Dot products of every width against ggml's vec_dot (dot.f32, same quantized activations act_q.bin)
/// and against float64 arithmetic on the dequantized rows. Bounds are relative to sum |w_i * a_i|, the
/// scale float rounding errors grow with, so rows of tiny or huge values are held to the same standard.
/// </summary>
public sealed class DotProductTests
{
    /// <summary>
    /// Against ggml: both sum int8 products exactly per block and differ only in float summation order
    /// of about 32 scaled block sums (and FMA use), each off by a few ulp.
    /// </summary>
    public const double GgmlRelativeTolerance = 4e-6;

    /// <summary>
    /// Against ggml for F16 only: the golden build had AVX512-FP16, where ggml_vec_dot_f16 multiplies and
    /// accumulates in half precision (_mm512_fmadd_ph, 11-bit significand). We accumulate in float, as ggml
    /// does on every CPU without AVX512-FP16, so only half-precision agreement can be asked of that golden;
    /// the float64 check below holds F16 to the same bound as every other type. Products below 2^-14 land on
    /// the half subnormal grid there, hence also up to half its spacing (2^-25) per value.
    /// </summary>
    public const double GgmlHalfAccumulationTolerance = 4.0 / 2048;

    /// <summary>Half the spacing of half-precision subnormals, the absolute error of one product rounded to F16.</summary>
    public const double HalfSubnormalRounding = 1.0 / (1 << 25);

    /// <summary>Against float64 on the dequantized rows: float rounding of the block scales and sums only.</summary>
    public const double Float64RelativeTolerance = 4e-6;

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var type in KernelGolden.WeightTypes)
        {
            foreach (var variant in KernelGolden.GoldenVariants(type))
            {
                foreach (var width in KernelWidth.All)
                {
                    data.Add(type, variant, width.ToString());
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dot_matches_ggml_and_float64(string type, string variant, string width)
    {
        if (!KernelGolden.Variants(type).Contains(variant))
        {
            Assert.Skip($"{type} has no {variant}.bin in the golden");
        }

        var info = KernelGolden.Info(type);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        var rows = KernelGolden.Bytes($"{type}/{variant}.bin");
        var act = KernelGolden.Bytes($"{type}/act_q.bin");
        var ggml = KernelGolden.Floats($"{type}/dot{KernelGolden.Suffix(variant)}.f32");
        var kernel = GgmlKernelCatalog.Dot(info.Type, Enum.Parse<VectorWidth>(width))!;
        var actValues = KernelGolden.Dequantize(activation.DequantizeReference!, act, KernelGolden.Columns);

        for (var row = 0; row < KernelGolden.Rows; row++)
        {
            var weights = KernelGolden.Row(rows, info, row);
            var actual = KernelGolden.Dot(kernel, weights, act, KernelGolden.Columns);
            var values = KernelGolden.Dequantize(info.DequantizeReference!, weights, KernelGolden.Columns);
            var (exact, magnitude) = Float64Dot(values, actValues);
            var slack = MinSumRounding(info, weights, act);

            var context = $"{type} {variant} {width} row {row}: ours {actual}, ggml {ggml[row]}, float64 {exact}, sum|w*a| {magnitude}";
            var ggmlBound = type == "f16"
                ? (GgmlHalfAccumulationTolerance * magnitude) + (HalfSubnormalRounding * KernelGolden.Columns)
                : GgmlRelativeTolerance * magnitude;
            Assert.True(Math.Abs(actual - ggml[row]) <= ggmlBound + float.Epsilon, context);
            Assert.True(Math.Abs(actual - exact) <= (Float64RelativeTolerance * magnitude) + slack + float.Epsilon, context);
        }
    }

    [Theory]
    [InlineData("V512")]
    [InlineData("V256")]
    [InlineData("V128")]
    [InlineData("Scalar")]
    public void F32_dot_matches_float64(string width)
    {
        var input = KernelGolden.Floats("input.f32");
        var activation = KernelGolden.Floats("activation.f32");
        var kernel = GgmlKernelCatalog.Dot(GgmlType.F32, Enum.Parse<VectorWidth>(width))!;
        var act = MemoryMarshal.AsBytes(activation.AsSpan()).ToArray();

        // Odd lengths reach the vector loops' scalar tails.
        foreach (var count in new[] { 1024, 1023, 37, 1 })
        {
            for (var row = 0; row < KernelGolden.Rows; row++)
            {
                var weights = input.AsSpan(row * KernelGolden.Columns, count).ToArray();
                var actual = KernelGolden.Dot(kernel, MemoryMarshal.AsBytes(weights.AsSpan()).ToArray(), act, count);
                var (exact, magnitude) = Float64Dot(weights, activation.AsSpan(0, count).ToArray());
                Assert.True(Math.Abs(actual - exact) <= (Float64RelativeTolerance * magnitude) + float.Epsilon, $"{width} row {row} n {count}: {actual} vs {exact}");
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.IQ4_NL)]
    [InlineData(GgmlType.MXFP4)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Every_width_agrees_on_rows_of_odd_block_counts(GgmlType type)
    {
        // V512 takes two blocks per step and hands an odd last block to V256. The golden activation row holds
        // 1024 values: 32 legacy blocks, 4 super-blocks.
        var info = GgmlTypeTraits.Get(type);
        var rows = KernelGolden.Bytes($"{info.GgmlName}/q.bin");
        var act = KernelGolden.Bytes($"{info.GgmlName}/act_q.bin");
        foreach (var blocks in info.BlockSize == 256 ? new[] { 1, 3 } : new[] { 1, 3, 31 })
        {
            var count = blocks * info.BlockSize;
            var scalar = KernelGolden.Dot(GgmlKernelCatalog.Dot(type, VectorWidth.Scalar)!, rows, act, count);
            foreach (var width in new[] { VectorWidth.V512, VectorWidth.V256, VectorWidth.V128 })
            {
                var actual = KernelGolden.Dot(GgmlKernelCatalog.Dot(type, width)!, rows, act, count);
                Assert.True(Math.Abs(actual - scalar) <= 1e-4 * Math.Max(1, Math.Abs(scalar)), $"{type} {width} {blocks} blocks: {actual} vs {scalar}");
            }
        }
    }

    [Fact]
    public void IQ4_XS_512_bit_loop_equals_its_256_bit_loop_bit_for_bit()
    {
        // The 512-bit loop takes a value's sign from its codebook index and negates the activation under a mask; its
        // int32 sums fold into the 256-bit loop's lanes. The golden rows, against the golden activations and against
        // activations full of Q8_K's extremes, -127 and 127 (the largest pair sums maddubs must hold).
        var info = GgmlTypeTraits.Get(GgmlType.IQ4_XS);
        var rows = KernelGolden.Bytes($"{info.GgmlName}/q.bin");
        var golden = KernelGolden.Bytes($"{info.GgmlName}/act_q.bin");
        var extreme = (byte[])golden.Clone();
        for (var b = 0; b < golden.Length / 292; b++)
        {
            for (var i = 0; i < 256; i++)
            {
                extreme[(b * 292) + 4 + i] = (byte)(i % 3 == 0 ? 0x81 : i % 3 == 1 ? 0x7F : golden[(b * 292) + 4 + i]);
            }
        }

        foreach (var act in new[] { golden, extreme })
        {
            var count = act.Length / 292 * 256;
            var wide = KernelGolden.Dot(GgmlKernelCatalog.Dot(GgmlType.IQ4_XS, VectorWidth.V512)!, rows, act, count);
            var narrow = KernelGolden.Dot(GgmlKernelCatalog.Dot(GgmlType.IQ4_XS, VectorWidth.V256)!, rows, act, count);
            Assert.Equal(BitConverter.SingleToInt32Bits(narrow), BitConverter.SingleToInt32Bits(wide));
        }
    }

    private static (double Exact, double Magnitude) Float64Dot(float[] w, float[] a)
    {
        double exact = 0, magnitude = 0;
        for (var i = 0; i < w.Length; i++)
        {
            var product = (double)w[i] * a[i];
            exact += product;
            magnitude += Math.Abs(product);
        }

        return (exact, magnitude);
    }

    /// <summary>
    /// Q4_1/Q5_1 dot products use Q8_1's cached s = fp16(d * sum(q)) for the block minimum, as ggml does; the
    /// float64 reference uses the exact d * sum(q). This is the difference that rounding makes, block by block.
    /// </summary>
    private static double MinSumRounding(GgmlTypeInfo info, byte[] weights, byte[] act)
    {
        if (info.ActivationType != GgmlType.Q8_1)
        {
            return 0;
        }

        double slack = 0;
        var blocks = KernelGolden.Columns / 32;
        for (var b = 0; b < blocks; b++)
        {
            var m = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(weights, (b * info.TypeSize) + 2));
            var block = act.AsSpan(b * 36, 36);
            var d = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(block));
            var s = (double)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(block[2..]));
            var sum = 0;
            foreach (var q in MemoryMarshal.Cast<byte, sbyte>(block[4..]))
            {
                sum += q;
            }

            slack += Math.Abs(m * (s - (d * sum)));
        }

        return slack;
    }
}
