using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// F16's DecodeScaled (the float tiles' weight decoder against activations carrying 2^112): at every width, every
/// half becomes exactly its value times 2^-112, subnormals, signed zeros, infinities and NaNs included. And the
/// activation side, RoundScaled: every float becomes its F16 rounding (ggml's, ties to even) times 2^112.
/// </summary>
public sealed unsafe class DecodeScaledTests
{
    public static TheoryData<string> Widths() => KernelGolden.Widths();

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_half_decodes_to_its_value_times_two_to_the_minus_112(string widthName)
    {
        var decode = F16Kernels.DecodeScaledAt(Enum.Parse<VectorWidth>(widthName));

        // All 63488 finite halves (a row without inf or NaN takes the shift path), in rows of 1000 (tails everywhere).
        var finite = Enumerable.Range(0, 65536).Select(i => (ushort)i).Where(h => (h & 0x7C00) != 0x7C00).ToArray();
        for (var start = 0; start < finite.Length; start += 1000)
        {
            var row = finite.AsSpan(start, Math.Min(1000, finite.Length - start)).ToArray();
            AssertDecodes(decode, row, widthName);
        }

        // A row holding inf and NaN goes through the exact conversion.
        var special = new ushort[] { 0x3C00, 0x7C00, 0x0001, 0xFC00, 0x7E00, 0x8000, 0x03FF, 0x7BFF }.Concat(Enumerable.Repeat((ushort)0x4000, 60)).ToArray();
        AssertDecodes(decode, special, widthName);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Every_float_rounds_to_its_half_times_two_to_the_112(string widthName)
    {
        var round = F16Kernels.RoundScaledAt(Enum.Parse<VectorWidth>(widthName));

        // Every half, the midpoints between neighbours (ties) and a step either side of them, both signs: all rounding
        // cases of the normal and subnormal ranges, the overflow threshold 65520 included; then infinities and NaN,
        // alone in a row of normal values and among them (the vector path's slow lanes).
        var values = new List<float>();
        for (var h = 0; h < 0x7C00; h++)
        {
            var value = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            var next = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            var middle = (value + next) / 2; // exact: two halves' mean fits a float
            values.AddRange(new[] { value, middle, MathF.BitDecrement(middle), MathF.BitIncrement(middle) });
            values.AddRange(new[] { -value, -middle });
        }

        values.AddRange(new[] { 65520f, 1e6f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-30f, -1e-30f, 0f, -0f });
        values.AddRange(Enumerable.Repeat(1.5f, 37));
        var source = values.ToArray();
        var rounded = new float[source.Length];
        fixed (float* from = source)
        fixed (float* to = rounded)
        {
            round(from, to, source.Length);
        }

        var factor = MathF.ScaleB(1f, 112);
        for (var i = 0; i < source.Length; i++)
        {
            var expected = (float)(Half)source[i] * factor;
            Assert.True(
                float.IsNaN(expected) ? float.IsNaN(rounded[i]) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(rounded[i]),
                $"{widthName}: {source[i]:R} rounded to {rounded[i]:R}, expected {expected:R}");
        }
    }

    private static void AssertDecodes(DequantizeRowKernel decode, ushort[] halves, string width)
    {
        var decoded = new float[halves.Length];
        fixed (ushort* source = halves)
        fixed (float* destination = decoded)
        {
            decode((byte*)source, destination, halves.Length);
        }

        for (var i = 0; i < halves.Length; i++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf(halves[i]) * MathF.ScaleB(1f, -112);
            Assert.True(
                float.IsNaN(expected) ? float.IsNaN(decoded[i]) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(decoded[i]),
                $"{width}: half 0x{halves[i]:X4} decoded to {decoded[i]:R}, expected {expected:R}");
        }
    }
}
