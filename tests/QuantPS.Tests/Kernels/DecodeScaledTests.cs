using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// F16's DecodeScaled (the float tiles' weight decoder against activations carrying 2^112): at every width, every
/// half becomes exactly its value times 2^-112, subnormals, signed zeros, infinities and NaNs included.
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
