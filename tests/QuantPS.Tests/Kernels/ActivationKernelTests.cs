using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The generated SwiGLU (ggml_vec_swiglu_f32 of an AVX-512 build) and softmax step (ggml_vec_soft_max_f32): every
/// width equals the scalar form bit for bit, whole groups of 16 go through ggml_v_expf and the rest of a row through
/// expf, and that exp is as accurate as ggml documents for it.
/// </summary>
public sealed unsafe class ActivationKernelTests
{
    // ggml_v_expf's comment gives 1.45358 ulp plus 0.5 of rounding; the sweep below meets up to 2.14 (ulp taken in the
    // float binade of the exact value) with the same bits as ggml's own code, so the bound here is a sanity check.
    private const double ExpUlpTolerance = 2.5;

    // A hash of Exp over the float sweep -110 + i x 0.0011, i < 200000 (h = 31 h + bits), as ggml_v_expf's AVX-512 code
    // computes it: measured here on 2026-12-07 with that function compiled by GCC 12 (-mavx512f -mavx512dq, no FP
    // contraction in the sweep itself).
    private const uint GgmlExpSweepHash = 2691550209;

    public static TheoryData<string> Widths() => KernelGolden.Widths();

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_width_equals_the_scalar_form_bit_for_bit(string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var gate = Inputs();
        var up = new float[gate.Length];
        var random = new Random(7);
        for (var i = 0; i < up.Length; i++)
        {
            up[i] = (float)((random.NextDouble() * 4) - 2);
        }

        // 16 x 40 + 7: whole groups, then a tail through expf; the specials sit in both.
        var expected = Run(ActivationKernels.SwiGluRowScalar, gate, up);
        var actual = Run(ActivationKernels.SwiGluAt(width), gate, up);
        for (var i = 0; i < gate.Length; i++)
        {
            // NaN payloads are the hardware's business; every other result is compared by its bits.
            Assert.True(
                float.IsNaN(expected[i]) ? float.IsNaN(actual[i]) : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{width}, value {i}: silu({gate[i]:R}) x {up[i]:R} = {actual[i]:R}, scalar {expected[i]:R}");
        }
    }

    [Fact]
    public void Whole_groups_use_the_vector_exp_and_the_rest_of_a_row_expf()
    {
        // A value where the two exps give different bits, found by search: the test cannot pass by the two agreeing.
        var x = FirstWhereExpsDiffer();
        var gate = Enumerable.Repeat(x, 17).ToArray();
        var up = Enumerable.Repeat(1f, 17).ToArray();
        var result = Run(ActivationKernels.SwiGlu, gate, up);
        Assert.Equal(x / (1f + ActivationKernels.Exp(0f - x)), result[0]);
        Assert.Equal(x / (1f + ActivationKernels.Exp(0f - x)), result[15]);
        Assert.Equal(x / (1f + MathF.Exp(-x)), result[16]);
        Assert.NotEqual(result[0], result[16]);
    }

    [Fact]
    public void The_vector_exp_is_within_ggml_s_documented_error_and_saturates_as_ggml_does()
    {
        for (var x = -87f; x <= 88f; x += 0.0137f)
        {
            var exact = Math.Exp(x);
            var ulp = Math.ScaleB(1, Math.ILogB((float)exact) - 23);
            var error = Math.Abs(ActivationKernels.Exp(x) - exact) / ulp;
            Assert.True(error <= ExpUlpTolerance, $"exp({x:R}): {ActivationKernels.Exp(x):R} is {error:F2} ulp from {exact:R}");
        }

        Assert.Equal(1f, ActivationKernels.Exp(0f));
        Assert.Equal(float.PositiveInfinity, ActivationKernels.Exp(89f)); // 2^128 overflows through the scaling
        Assert.Equal(float.PositiveInfinity, ActivationKernels.Exp(200f)); // |n| > 192: ggml's blend to infinity
        Assert.Equal(0f, ActivationKernels.Exp(-200f));
        Assert.True(ActivationKernels.Exp(-100f) is > 0f and < 1e-43f); // subnormal, rounded once as vscalefps does
        Assert.True(float.IsNaN(ActivationKernels.Exp(float.NaN)));
    }

    [Fact]
    public void The_exp_gives_ggml_s_bits_over_a_sweep_of_200000_values()
    {
        uint hash = 0;
        for (var i = 0; i < 200000; i++)
        {
            var x = -110.0f + (i * 0.0011f);
            hash = (hash * 31u) + (uint)BitConverter.SingleToInt32Bits(ActivationKernels.Exp(x));
        }

        Assert.Equal(GgmlExpSweepHash, hash);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_width_s_softmax_step_equals_the_scalar_form_bit_for_bit(string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var x = SoftMaxInputs(out var max);
        var (expected, expectedSum) = RunSoftMax(ActivationKernels.SoftMaxRowScalar, x, max);
        var (actual, actualSum) = RunSoftMax(ActivationKernels.SoftMaxAt(width), x, max);
        for (var i = 0; i < x.Length; i++)
        {
            Assert.True(
                BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{width}, value {i}: exp({x[i]:R} - {max:R}) = {actual[i]:R}, scalar {expected[i]:R}");
        }

        Assert.Equal(BitConverter.DoubleToInt64Bits(expectedSum), BitConverter.DoubleToInt64Bits(actualSum));
    }

    [Fact]
    public void The_softmax_step_sums_each_group_in_the_order_of_mm512_reduce_add_ps_and_the_tail_in_double()
    {
        var x = SoftMaxInputs(out var max);
        var (y, sum) = RunSoftMax(ActivationKernels.SoftMax, x, max);
        var whole = x.Length / 16 * 16;
        double expected = 0;
        var anyOrderMatters = false;
        for (var g = 0; g < whole; g += 16)
        {
            var v = new float[16];
            for (var l = 0; l < 16; l++)
            {
                v[l] = ActivationKernels.Exp(x[g + l] - max);
                Assert.Equal(v[l], y[g + l]);
            }

            // GCC's _mm512_reduce_add_ps: lanes i + 8, then i + 4, then i + 2, then the last pair.
            float Lane(int i) => (v[i + 4] + v[i + 12]) + (v[i] + v[i + 8]);
            var tree = (Lane(0) + Lane(2)) + (Lane(1) + Lane(3));
            var inOrder = 0f;
            foreach (var value in v)
            {
                inOrder += value;
            }

            anyOrderMatters |= tree != inOrder;
            expected += tree;
        }

        for (var i = whole; i < x.Length; i++)
        {
            var e = MathF.Exp(x[i] - max);
            Assert.Equal(e, y[i]);
            expected += e;
        }

        Assert.True(anyOrderMatters, "the inputs must tell the reduction order from a left-to-right sum");
        Assert.Equal(expected, sum);
        Assert.Equal(0f, y[3]); // a masked (-inf) score is a zero weight
    }

    // 16 x 5 + 7 scores around a max, masked ones among them as -inf.
    private static float[] SoftMaxInputs(out float max)
    {
        var random = new Random(11);
        var x = new float[(16 * 5) + 7];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)((random.NextDouble() * 30) - 25);
        }

        x[3] = float.NegativeInfinity;
        x[20] = float.NegativeInfinity;
        x[x.Length - 2] = float.NegativeInfinity;
        max = x.Max();
        return x;
    }

    private static (float[] Y, double Sum) RunSoftMax(SoftMaxKernel kernel, float[] x, float max)
    {
        var y = new float[x.Length];
        fixed (float* source = x)
        fixed (float* destination = y)
        {
            return (y, kernel(source, destination, x.Length, max));
        }
    }

    private static float FirstWhereExpsDiffer()
    {
        for (var x = 0.5f; x < 8f; x += 0.001f)
        {
            if (x / (1f + ActivationKernels.Exp(0f - x)) != x / (1f + MathF.Exp(-x)))
            {
                return x;
            }
        }

        throw new InvalidOperationException("no value where the vector exp and expf give different silu");
    }

    private static float[] Inputs()
    {
        var random = new Random(3);
        var values = new List<float>
        {
            0f, -0f, 1e-40f, -1e-40f, float.Epsilon, 87.5f, -87.5f, 88.7f, -88.7f, 100f, -100f, 133f, -133f, 200f, -200f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.MinValue,
        };
        while (values.Count < (16 * 40) + 7 - 20)
        {
            var scale = values.Count % 3 == 0 ? 1 : values.Count % 3 == 1 ? 10 : 120;
            values.Add((float)(((random.NextDouble() * 2) - 1) * scale));
        }

        values.AddRange(new[] { 0f, 100f, -100f, float.NaN, 5f, -5f, 200f, -0.5f, 0.5f, 3f, -3f, 1f, -1f, 7f, -7f, 2f, -2f, 60f, -60f, 0.25f });
        return values.ToArray();
    }

    private static float[] Run(GatedActivationKernel kernel, float[] gate, float[] up)
    {
        var result = (float[])gate.Clone();
        fixed (float* g = result)
        fixed (float* u = up)
        {
            kernel(g, u, result.Length);
        }

        return result;
    }
}
