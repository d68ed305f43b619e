using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The generated one-chunk attention steps over F16 values (ggml_vec_dot_f16, ggml_vec_mad_f16 and
/// ggml_vec_scale_f16 of an AVX-512 build): every width equals the scalar form bit for bit, the dot adds in ggml's
/// order, and the F16 rounding is ggml's conversion there and back on every kind of value.
/// </summary>
public sealed unsafe class AttentionKernelTests
{
    public static TheoryData<string> Widths() => KernelGolden.Widths();

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_width_s_key_dot_equals_the_scalar_form_bit_for_bit(string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        foreach (var count in new[] { 64, 128, 80, 7 })
        {
            var (key, query) = HalfPair(count, seed: count);
            var expected = KeyDot(AttentionKernels.KeyDotF16Scalar, key, query);
            var actual = KeyDot(AttentionKernels.KeyDotF16At(width), key, query);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void The_key_dot_adds_as_ggml_vec_dot_f16_does()
    {
        // 64 + 16: one whole step through the four accumulators, then 16 leftovers in double.
        var (key, query) = HalfPair(80, seed: 5);
        var lane = new float[64];
        for (var l = 0; l < 64; l++)
        {
            lane[l] = key[l] * query[l]; // one fused multiply-add onto zero: the exact product (F16 x F16 fits a float)
        }

        // (0 + 2) + (1 + 3) across the accumulators, then _mm512_reduce_add_ps: lanes i + 8, i + 4, i + 2, the pair.
        float Acc(int l) => (lane[l] + lane[32 + l]) + (lane[16 + l] + lane[48 + l]);
        float Eight(int i) => Acc(i) + Acc(i + 8);
        float Four(int i) => Eight(i) + Eight(i + 4);
        double sum = (Four(0) + Four(2)) + (Four(1) + Four(3));
        var inOrder = 0f;
        for (var l = 0; l < 64; l++)
        {
            inOrder += lane[l];
        }

        Assert.NotEqual((float)sum, inOrder); // the inputs tell ggml's order from a left-to-right sum
        for (var i = 64; i < 80; i++)
        {
            sum += key[i] * query[i];
        }

        Assert.Equal((float)sum, KeyDot(AttentionKernels.KeyDotF16, key, query));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_width_s_multiply_adds_and_scales_are_ggmls_and_round_to_F16_as_it_converts(string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var acc = Specials();
        var value = new float[acc.Length];
        for (var i = 0; i < value.Length; i++)
        {
            value[i] = Half(((i * 37) % 200) - 100) * 0.37f;
        }

        foreach (var factor in new[] { 0.7311f, 1f, 1e-30f, 3e4f })
        {
            var expected = (float[])acc.Clone();
            var actual = (float[])acc.Clone();
            fixed (float* e = expected)
            fixed (float* a = actual)
            fixed (float* v = value)
            {
                AttentionKernels.MadRoundF16Scalar(acc.Length, e, v, factor);
                AttentionKernels.MadRoundF16At(width)(acc.Length, a, v, factor);
            }

            for (var i = 0; i < acc.Length; i++)
            {
                var reference = GgmlRound(MathF.FusedMultiplyAdd(value[i], factor, acc[i]));
                AssertSameValue(reference, expected[i], $"scalar, x {factor}, value {i}");
                AssertSameValue(reference, actual[i], $"{width}, x {factor}, value {i}");
            }

            var fused = (float[])acc.Clone();
            fixed (float* m = fused)
            fixed (float* v = value)
            {
                AttentionKernels.MadF32At(width)(acc.Length, m, v, factor);
            }

            for (var i = 0; i < acc.Length; i++)
            {
                AssertSameValue(MathF.FusedMultiplyAdd(value[i], factor, acc[i]), fused[i], $"{width} F32 multiply-add, x {factor}, value {i}");
            }

            var scaled = (float[])acc.Clone();
            fixed (float* s = scaled)
            {
                AttentionKernels.ScaleRoundF16At(width)(acc.Length, s, factor);
            }

            for (var i = 0; i < acc.Length; i++)
            {
                AssertSameValue(GgmlRound(acc[i] * factor), scaled[i], $"{width} scale, x {factor}, value {i}");
            }
        }
    }

    private static void AssertSameValue(float expected, float actual, string what) =>
        Assert.True(
            float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
            $"{what}: {actual:R}, expected {expected:R}");

    private static float GgmlRound(float x) => FloatConversions.HalfToSingle(FloatConversions.SingleToHalf(x));

    private static float Half(float x) => GgmlRound(x);

    // Accumulator values of every kind, 16 x 6 + 5 of them: normal, F16 subnormal, zero of both signs, the rounding
    // edges (ties, the largest F16, the overflow threshold), infinities and NaN, with plain values between.
    private static float[] Specials()
    {
        var values = new List<float>
        {
            0f, -0f, 1e-7f, -3e-6f, 6.1e-5f, 6.103515625e-05f, 5.96e-8f, 2.98e-8f, 1f + (1f / 2048), 1f + (3f / 2048),
            65504f, -65504f, 65519f, 65520f, -65520f, 7e4f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            float.MaxValue, 1e-40f,
        };
        var random = new Random(9);
        while (values.Count < (16 * 6) + 5)
        {
            values.Add(Half((float)(((random.NextDouble() * 2) - 1) * Math.Pow(10, random.Next(-6, 5)))));
        }

        return values.ToArray();
    }

    // F16 values held as floats, the products of varied sizes so that the order of their sum matters.
    private static (float[] Key, float[] Query) HalfPair(int count, int seed)
    {
        var random = new Random(seed);
        var key = new float[count];
        var query = new float[count];
        for (var i = 0; i < count; i++)
        {
            key[i] = Half((float)(((random.NextDouble() * 2) - 1) * Math.Pow(10, random.Next(-3, 3))));
            query[i] = Half((float)(((random.NextDouble() * 2) - 1) * Math.Pow(10, random.Next(-3, 3))));
        }

        return (key, query);
    }

    private static float KeyDot(KeyDotKernel kernel, float[] key, float[] query)
    {
        fixed (float* k = key)
        fixed (float* q = query)
        {
            return kernel(key.Length, k, q);
        }
    }
}
