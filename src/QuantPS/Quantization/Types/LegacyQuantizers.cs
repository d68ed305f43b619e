using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantPS.Quantization.Types;

/// <summary>Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (blocks of 32), as ggml's quantize_q*_* for one row.</summary>
internal static class LegacyQuantizers
{
    private const int Qk = 32;

    public static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        bool lanes = Vector.IsHardwareAccelerated && Qk % Vector<float>.Count == 0;
        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * 34, 34);
            if (!lanes || !Q8_0Block(xb, block))
            {
                Q8_0BlockScalar(xb, block);
            }
        }
    }

    private static void Q8_0BlockScalar(ReadOnlySpan<float> xb, Span<byte> block)
    {
        float amax = 0;
        for (int j = 0; j < Qk; j++)
        {
            amax = MathF.Max(amax, MathF.Abs(xb[j]));
        }

        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        QuantMath.WriteHalf(block, d);
        for (int j = 0; j < Qk; j++)
        {
            block[2 + j] = (byte)(sbyte)MathF.Round(xb[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    // The same arithmetic a vector at a time: the products are the scalar IEEE products, and
    // half-away-from-zero rounding is rebuilt exactly from truncation (q - trunc(q) is exact for
    // |q| <= 127.x). Quantizing is the CPU half of a Q8_0 conversion, so this halves its time.
    // A block with NaN or infinity is left to the scalar loop (returns false), whose Max semantics rule.
    [SkipLocalsInit]
    private static bool Q8_0Block(ReadOnlySpan<float> xb, Span<byte> block)
    {
        int n = Vector<float>.Count;
        var values = MemoryMarshal.Cast<float, Vector<float>>(xb);
        var amaxV = Vector<float>.Zero;
        var finite = Vector<float>.Zero;
        foreach (var v in values)
        {
            amaxV = Vector.Max(amaxV, Vector.Abs(v));
            finite += v - v; // 0 for every finite value, NaN otherwise
        }

        if (!Vector.EqualsAll(finite, Vector<float>.Zero))
        {
            return false;
        }

        float amax = 0;
        for (int k = 0; k < n; k++)
        {
            amax = MathF.Max(amax, amaxV[k]);
        }

        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        QuantMath.WriteHalf(block, d);
        var scale = new Vector<float>(id);
        var half = new Vector<float>(0.5f);
        Span<Vector<int>> rounded = stackalloc Vector<int>[values.Length];
        for (int j = 0; j < values.Length; j++)
        {
            var q = values[j] * scale;
            var truncated = Vector.ConvertToInt32(q);
            var away = Vector.GreaterThanOrEqual(Vector.Abs(q - Vector.ConvertToSingle(truncated)), half);
            var step = Vector.ConditionalSelect(Vector.LessThan(q, Vector<float>.Zero), new Vector<int>(-1), Vector<int>.One);
            rounded[j] = truncated + (step & away);
        }

        StoreNarrowed(rounded, block.Slice(2, Qk));
        return true;
    }

    // Values already in sbyte range: narrowing (which truncates) keeps them; int -> short -> sbyte
    // in whole vectors when 32 values make at least one sbyte vector, lane by lane otherwise.
    [SkipLocalsInit]
    private static void StoreNarrowed(ReadOnlySpan<Vector<int>> ints, Span<byte> destination)
    {
        if (ints.Length % 4 != 0)
        {
            var lanes = MemoryMarshal.Cast<Vector<int>, int>(ints);
            for (int j = 0; j < lanes.Length; j++) destination[j] = (byte)(sbyte)lanes[j];
            return;
        }

        Span<Vector<short>> shorts = stackalloc Vector<short>[ints.Length / 2];
        for (int j = 0; j < shorts.Length; j++) shorts[j] = Vector.Narrow(ints[2 * j], ints[2 * j + 1]);
        var bytes = MemoryMarshal.Cast<byte, Vector<sbyte>>(destination);
        for (int j = 0; j < bytes.Length; j++) bytes[j] = Vector.Narrow(shorts[2 * j], shorts[2 * j + 1]);
    }

    public static void Q4_0(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance)
    {
        if (!importance.IsEmpty)
        {
            SymmetricWeighted(x, y, importance, nmax: 8, blockBytes: 18, fiveBit: false);
            return;
        }

        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * 18, 18);
            float max = SignedAbsMax(xb);
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, d);
            for (int j = 0; j < Qk / 2; ++j)
            {
                int q0 = Math.Min(15, ToInt8(xb[j] * id + 8.5f));
                int q1 = Math.Min(15, ToInt8(xb[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public static void Q5_0(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance)
    {
        if (!importance.IsEmpty)
        {
            SymmetricWeighted(x, y, importance, nmax: 16, blockBytes: 22, fiveBit: true);
            return;
        }

        Span<byte> levels = stackalloc byte[Qk];
        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * 22, 22);
            float max = SignedAbsMax(xb);
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, d);
            for (int j = 0; j < Qk; ++j)
            {
                levels[j] = (byte)Math.Min(31, ToInt8(xb[j] * id + 16.5f));
            }

            PackFiveBit(levels, block.Slice(2, 4), block.Slice(6, 16));
        }
    }

    public static void Q4_1(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance)
    {
        if (!importance.IsEmpty)
        {
            AsymmetricWeighted(x, y, importance, nmax: 15, blockBytes: 20, fiveBit: false);
            return;
        }

        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * 20, 20);
            MinMax(xb, out float min, out float max);
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, d);
            QuantMath.WriteHalf(block[2..], min);
            for (int j = 0; j < Qk / 2; ++j)
            {
                int q0 = Math.Min(15, ToInt8((xb[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, ToInt8((xb[j + 16] - min) * id + 0.5f));
                block[4 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public static void Q5_1(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance)
    {
        if (!importance.IsEmpty)
        {
            AsymmetricWeighted(x, y, importance, nmax: 31, blockBytes: 24, fiveBit: true);
            return;
        }

        Span<byte> levels = stackalloc byte[Qk];
        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * 24, 24);
            MinMax(xb, out float min, out float max);
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, d);
            QuantMath.WriteHalf(block[2..], min);
            for (int j = 0; j < Qk; ++j)
            {
                levels[j] = (byte)(int)((xb[j] - min) * id + 0.5f);
            }

            PackFiveBit(levels, block.Slice(4, 4), block.Slice(8, 16));
        }
    }

    // Q4_0 / Q5_0 with an importance matrix: weighted symmetric search per block.
    private static void SymmetricWeighted(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance, int nmax, int blockBytes, bool fiveBit)
    {
        float sigma2 = QuantMath.MeanSquare(x);
        Span<float> weight = stackalloc float[Qk];
        Span<sbyte> levels = stackalloc sbyte[Qk];
        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var qw = importance.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * blockBytes, blockBytes);
            for (int j = 0; j < Qk; ++j)
            {
                weight[j] = qw[j] * MathF.Sqrt(sigma2 + xb[j] * xb[j]);
            }

            float d = QuantMath.MakeQx(Qk, nmax, xb, levels, 1, weight);
            QuantMath.WriteHalf(block, d);
            var unsigned = System.Runtime.InteropServices.MemoryMarshal.AsBytes(levels);
            if (fiveBit)
            {
                PackFiveBit(unsigned, block.Slice(2, 4), block.Slice(6, 16));
            }
            else
            {
                PackNibbles(unsigned, block.Slice(2, 16));
            }
        }
    }

    // Q4_1 / Q5_1 with an importance matrix: weighted scale + min search per block.
    private static void AsymmetricWeighted(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> importance, int nmax, int blockBytes, bool fiveBit)
    {
        float sigma2 = QuantMath.MeanSquare(x);
        Span<float> weight = stackalloc float[Qk];
        Span<byte> levels = stackalloc byte[Qk];
        Span<byte> aux = stackalloc byte[Qk];
        for (int ib = 0; ib < x.Length / Qk; ib++)
        {
            var xb = x.Slice(ib * Qk, Qk);
            var qw = importance.Slice(ib * Qk, Qk);
            var block = y.Slice(ib * blockBytes, blockBytes);
            for (int j = 0; j < Qk; ++j)
            {
                weight[j] = qw[j] * MathF.Sqrt(sigma2 + xb[j] * xb[j]);
            }

            float d = QuantMath.MakeQkx(Qk, nmax, xb, weight, levels, out float min, aux, -0.9f, 0.05f, 36, false);
            QuantMath.WriteHalf(block, d);
            QuantMath.WriteHalf(block[2..], -min);
            if (fiveBit)
            {
                PackFiveBit(levels, block.Slice(4, 4), block.Slice(8, 16));
            }
            else
            {
                PackNibbles(levels, block.Slice(4, 16));
            }
        }
    }

    private static void PackNibbles(ReadOnlySpan<byte> levels, Span<byte> qs)
    {
        for (int j = 0; j < 16; ++j)
        {
            qs[j] = (byte)(levels[j] | (levels[j + 16] << 4));
        }
    }

    // Low nibbles as in Q4; the fifth bit of value j goes to bit j of the little-endian qh word.
    private static void PackFiveBit(ReadOnlySpan<byte> levels, Span<byte> qh, Span<byte> qs)
    {
        uint high = 0;
        for (int j = 0; j < 16; ++j)
        {
            int l0 = levels[j], l1 = levels[j + 16];
            qs[j] = (byte)((l0 & 0x0F) | ((l1 & 0x0F) << 4));
            high |= (uint)((l0 & 0x10) >> 4) << j;
            high |= (uint)((l1 & 0x10) >> 4) << (j + 16);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(qh, high);
    }

    // The value with the largest magnitude, sign kept; the first one wins ties.
    private static float SignedAbsMax(ReadOnlySpan<float> xb)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < xb.Length; j++)
        {
            if (amax < MathF.Abs(xb[j]))
            {
                amax = MathF.Abs(xb[j]);
                max = xb[j];
            }
        }

        return max;
    }

    // C's (int8_t) conversion of a float: truncate toward zero.
    private static int ToInt8(float value) => (sbyte)(int)value;

    private static void MinMax(ReadOnlySpan<float> xb, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        for (int j = 0; j < xb.Length; j++)
        {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
    }
}
