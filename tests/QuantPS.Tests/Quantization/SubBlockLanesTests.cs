using QuantPS.Quantization.Types;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>
/// The lane-per-sub-block make_qkx search equals the one-sub-block-at-a-time search bit for bit,
/// on ordinary and awkward sub-blocks (constant, all positive, all zero, tiny, huge), with and
/// without weights, for counts that do not fill the last vector. CI reruns it at every width.
/// </summary>
public sealed class SubBlockLanesTests
{
    public static TheoryData<int, int, float, float, int, bool, bool> Searches => new()
    {
        // n, nmax, rmin, rdelta, nstep, useMad, weighted: the settings Q2_K, Q4_K, Q5_K, Q4_1/Q5_1 use.
        { 32, 31, -0.5f, 0.1f, 15, false, true },
        { 32, 15, -1f, 0.1f, 20, false, true },
        { 32, 31, -0.9f, 0.05f, 36, false, true },
        { 32, 15, -0.9f, 0.05f, 36, false, false },
        { 16, 3, -0.5f, 0.1f, 15, true, true },
        { 16, 3, -0.9f, 0.05f, 36, false, true },
        { 32, 15, -1f, 0.1f, 0, false, true },
    };

    [Theory]
    [MemberData(nameof(Searches))]
    public void EqualsTheScalarSearch(int n, int nmax, float rmin, float rdelta, int nstep, bool useMad, bool weighted)
    {
        var random = new Random(20261123 + n + nmax + nstep);
        foreach (int count in new[] { 1, 5, 8, 13, 16 })
        {
            for (int trial = 0; trial < 40; trial++)
            {
                var x = new float[count * n];
                var w = weighted ? new float[count * n] : [];
                for (int b = 0; b < count; b++)
                {
                    Fill(x.AsSpan(b * n, n), (trial + b) % 7, random);
                }

                for (int i = 0; i < w.Length; i++) w[i] = (float)random.NextDouble() * 3f;

                var levels = new byte[count * n];
                var scales = new float[count];
                var mins = new float[count];
                SubBlockLanes.MakeQkx(n, nmax, x, w, levels, scales, mins, rmin, rdelta, nstep, useMad);
                var aux = new byte[n];
                for (int b = 0; b < count; b++)
                {
                    var expectedLevels = new byte[n];
                    float expectedScale = QuantMath.MakeQkx(n, nmax, x.AsSpan(b * n, n), weighted ? w.AsSpan(b * n, n) : default,
                        expectedLevels, out float expectedMin, aux, rmin, rdelta, nstep, useMad);
                    Assert.Equal(BitConverter.SingleToInt32Bits(expectedScale), BitConverter.SingleToInt32Bits(scales[b]));
                    Assert.Equal(BitConverter.SingleToInt32Bits(expectedMin), BitConverter.SingleToInt32Bits(mins[b]));
                    Assert.Equal(expectedLevels, levels.AsSpan(b * n, n).ToArray());
                }
            }
        }
    }

    private static void Fill(Span<float> values, int kind, Random random)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float g = (float)(random.NextDouble() * 2 - 1);
            values[i] = kind switch
            {
                0 => 0f,                       // all zero: degenerate
                1 => 0.75f,                    // constant positive: min clamps to 0, one level
                2 => -0.25f,                   // constant negative: max == min
                3 => MathF.Abs(g) + 0.5f,      // all positive: min clamps to 0
                4 => g * 1e-30f,               // tiny
                5 => g * 1e30f,                // huge
                _ => g * (i % 5 + 1),          // ordinary, uneven
            };
        }
    }
}
