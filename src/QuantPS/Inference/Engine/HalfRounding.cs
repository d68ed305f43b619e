using System.Numerics;
using System.Runtime.CompilerServices;

namespace QuantPS.Inference.Engine;

/// <summary>
/// Rounds floats to the nearest F16 value (ties to even) while keeping them as floats: the attention emulates ggml's
/// F16 accumulators, which round after every step, so this runs in the inner loop on values in registers (the
/// kernels' F16 converter works on rows in memory). Same results as <c>(float)(Half)x</c>, which matches ggml's
/// CPU conversion bit for bit on the golden conversion table; portable <see cref="Vector{T}"/> code, any width.
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

    /// <summary>Rounds <paramref name="values"/> in place.</summary>
    public static unsafe void Round(float* values, int count)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var width = Vector<float>.Count;
            var mask = new Vector<int>(0x7FFFFFFF);
            var minNormal = new Vector<int>(MinNormal);
            var overflow = new Vector<int>(Overflow);
            var half = new Vector<float>(0.5f);
            for (; i + width <= count; i += width)
            {
                var x = Unsafe.ReadUnaligned<Vector<float>>(values + i);
                var bits = Vector.AsVectorInt32(x);
                var abs = bits & mask;
                if (Vector.GreaterThanOrEqualAny(abs, overflow))
                {
                    for (var j = i; j < i + width; j++)
                    {
                        values[j] = Round(values[j]);
                    }

                    continue;
                }

                var normal = (bits + new Vector<int>(0xFFF) + (Vector.ShiftRightLogical(bits, 13) & Vector<int>.One)) & new Vector<int>(~0x1FFF);

                // Below 2^-14 the F16 step is 2^-24: adding 0.5 (whose float step is 2^-24) rounds there, to even.
                var absFloat = Vector.AsVectorSingle(abs);
                var tiny = Vector.AsVectorInt32((absFloat + half) - half) | (bits & ~mask);
                var result = Vector.ConditionalSelect(Vector.LessThan(abs, minNormal), tiny, normal);
                Unsafe.WriteUnaligned(values + i, Vector.AsVectorSingle(result));
            }
        }

        for (; i < count; i++)
        {
            values[i] = Round(values[i]);
        }
    }
}
