using System.Runtime.CompilerServices;
using QuantPS.Kernels.Generated;

namespace QuantPS.Inference.Engine;

/// <summary>
/// Rounds floats to the nearest F16 value (ties to even) while keeping them as floats, as the attention's emulation of
/// ggml's F16 values needs. Same results as <c>(float)(Half)x</c>, which matches ggml's CPU conversion bit for bit on
/// the golden conversion table; rows go through the generated AttentionKernels.RoundToHalfRow, the same bits.
/// </summary>
internal static class HalfRounding
{
    /// <summary>Every F16 bit pattern as a float: a table lookup beats the software conversion of .NET 8.</summary>
    public static readonly float[] ToSingle = BuildTable();

    private const int MinNormal = 0x38800000;   // 2^-14, the smallest normal F16, as float bits
    private const int Overflow = 0x477FF000;    // 65520: from here F16 rounds to infinity

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float x)
    {
        var bits = BitConverter.SingleToInt32Bits(x);
        var abs = bits & 0x7FFFFFFF;
        if (abs >= MinNormal && abs < Overflow)
        {
            // Normal range: drop 13 of the 23 mantissa bits, rounding to nearest even.
            return BitConverter.Int32BitsToSingle((bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFF);
        }

        return (float)(Half)x;
    }

    private static float[] BuildTable()
    {
        var table = new float[65536];
        for (var i = 0; i < table.Length; i++)
        {
            table[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        }

        return table;
    }

    /// <summary>Rounds <paramref name="values"/> in place (the generated row kernel: the same bits as <see cref="Round(float)"/>).</summary>
    public static unsafe void Round(float* values, int count) => AttentionKernels.RoundToHalfRow(values, values, count);
}
