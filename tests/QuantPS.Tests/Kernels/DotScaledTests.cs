using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// F16's DotScaled (F16 weights against activations rounded to F16 and scaled by 2^112, the matrix-vector path of
/// F16 matmuls) at every width: each half's shortcut conversion is exact, sums match float64, inf and NaN propagate.
/// </summary>
public sealed class DotScaledTests
{
    // Float sums of products against the float64 sum, relative to sum |w x|.
    private const double FloatSumTolerance = 1e-5;

    public static TheoryData<string> Widths() => KernelGolden.Widths();

    [Theory]
    [MemberData(nameof(Widths))]
    public unsafe void Every_finite_half_times_one_is_itself(string widthName)
    {
        // One-hot activations pick out each weight of a 64-value row: every finite F16 bit pattern (subnormals, both
        // zeros, both signs) must come back as exactly its value.
        var dot = F16Kernels.DotScaledAt(Enum.Parse<VectorWidth>(widthName));
        const int Row = 64;
        var weights = new ushort[Row];
        var activations = new float[Row];
        fixed (ushort* w = weights)
        fixed (float* a = activations)
        {
            for (var first = 0; first < 0x10000; first += Row)
            {
                for (var i = 0; i < Row; i++)
                {
                    var bits = (ushort)(first + i);
                    weights[i] = (bits & 0x7C00) == 0x7C00 ? (ushort)0 : bits; // finite patterns only
                }

                for (var j = 0; j < Row; j++)
                {
                    Array.Clear(activations);
                    activations[j] = F16Kernels.ScaledActivation;
                    var expected = FloatConversions.HalfToSingle(weights[j]);
                    var actual = dot(Row, (byte*)w, (byte*)a);
                    Assert.True(expected == actual, $"0x{weights[j]:X4}: {actual} vs {expected}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public unsafe void Sums_match_float64(string widthName)
    {
        var dot = F16Kernels.DotScaledAt(Enum.Parse<VectorWidth>(widthName));
        var random = new Random(11);
        foreach (var count in new[] { 1, 31, 64, 65, 200, 2048 })
        {
            var weights = new ushort[count];
            var activations = new float[count];
            double expected = 0, magnitude = 0;
            for (var i = 0; i < count; i++)
            {
                // Weights across F16's range down to subnormals; activations rounded to F16 first, as the runner does.
                weights[i] = FloatConversions.SingleToHalf((float)((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-20, 8))));
                var x = FloatConversions.HalfToSingle(FloatConversions.SingleToHalf((float)((random.NextDouble() - 0.5) * 600)));
                activations[i] = x * F16Kernels.ScaledActivation;
                var product = (double)FloatConversions.HalfToSingle(weights[i]) * x;
                expected += product;
                magnitude += Math.Abs(product);
            }

            fixed (ushort* w = weights)
            fixed (float* a = activations)
            {
                var actual = dot(count, (byte*)w, (byte*)a);
                Assert.True(Math.Abs(actual - expected) <= (FloatSumTolerance * magnitude) + 1e-30, $"count {count}: {actual} vs {expected}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public unsafe void Infinity_and_NaN_weights_propagate(string widthName)
    {
        var dot = F16Kernels.DotScaledAt(Enum.Parse<VectorWidth>(widthName));
        foreach (var (special, position, expectNaN) in new (ushort, int, bool)[] { (0x7C00, 3, false), (0xFC00, 70, false), (0x7E00, 127, true), (0x7C01, 5, true) })
        {
            var weights = new ushort[128];
            var activations = new float[128];
            Array.Fill(weights, FloatConversions.SingleToHalf(0.5f));
            Array.Fill(activations, F16Kernels.ScaledActivation);
            weights[position] = special;
            fixed (ushort* w = weights)
            fixed (float* a = activations)
            {
                var actual = dot(128, (byte*)w, (byte*)a);
                if (expectNaN) Assert.True(float.IsNaN(actual), $"0x{special:X4}: {actual}");
                else Assert.Equal((special & 0x8000) != 0 ? float.NegativeInfinity : float.PositiveInfinity, actual);
            }
        }
    }
}
