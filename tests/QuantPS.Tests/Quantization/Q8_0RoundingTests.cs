using QuantPS.Kernels;
using QuantPS.Quantization;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>
/// Q8_0 rounds x / d half away from zero (ggml's roundf), also on the
/// ties and near-ties random data rarely hits.
/// </summary>
public sealed class Q8_0RoundingTests
{
    [Fact]
    public void Ties_and_near_ties_round_as_roundf()
    {
        // amax = 127 makes d = 1 and id = 1, so each value is its own x / d.
        float[] values =
        [
            127f, 2.5f, -2.5f, 0.5f, -0.5f, 0.49999997f, -0.49999997f, 1.5f, -1.5f, 126.5f, -126.5f, 0f, -0f, 3.4999998f, -3.5f, 63.5f,
            -127f, 0.50000006f, -0.50000006f, 100.49999f, -100.50001f, 7f, -7f, 1e-30f, -1e-30f, 45.5f, -45.5f, 2.5000002f, 99.5f, -99.5f, 12.25f, -12.75f,
        ];
        var block = new byte[34];
        TypeQuantizer.Quantize(GgmlType.Q8_0, values, 32, block, default);

        Assert.Equal(1.0f, FloatConversions.HalfToSingle(BitConverter.ToUInt16(block, 0)));
        for (int j = 0; j < 32; j++)
        {
            Assert.Equal((sbyte)MathF.Round(values[j], MidpointRounding.AwayFromZero), (sbyte)block[2 + j]);
        }
    }

    [Fact]
    public void Random_rows_match_the_scalar_definition()
    {
        var random = new Random(8);
        var row = new float[4096];
        for (int i = 0; i < row.Length; i++) row[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 4)));
        var output = new byte[row.Length / 32 * 34];
        TypeQuantizer.Quantize(GgmlType.Q8_0, row, row.Length, output, default);

        for (int b = 0; b < row.Length / 32; b++)
        {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(row[b * 32 + j]));
            float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < 32; j++)
            {
                Assert.Equal((sbyte)MathF.Round(row[b * 32 + j] * id, MidpointRounding.AwayFromZero), (sbyte)output[b * 34 + 2 + j]);
            }
        }
    }
}
