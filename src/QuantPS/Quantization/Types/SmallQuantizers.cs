namespace QuantPS.Quantization.Types;

/// <summary>
/// The types ggml quantizes without any search and without the importance matrix:
/// MXFP4, NVFP4 (FP4 grids), TQ1_0 and TQ2_0 (ternary), Q1_0 and Q2_0.
/// </summary>
internal static class SmallQuantizers
{
    /// <summary>ggml's kvalues_mxfp4: E2M1 values doubled.</summary>
    private static ReadOnlySpan<sbyte> Fp4 => new sbyte[] { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

    public static void MXFP4(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int ib = 0; ib < x.Length / 32; ib++)
        {
            var xb = x.Slice(32 * ib, 32);
            var block = y.Slice(17 * ib, 17); // e (E8M0), qs[16]
            float amax = 0;
            for (int j = 0; j < 32; j++)
            {
                if (amax < MathF.Abs(xb[j])) amax = MathF.Abs(xb[j]);
            }

            // ggml takes floor(log2f) in float; MathF.Log2 is the same libm call.
            byte e = amax > 0 ? (byte)(int)(MathF.Floor(MathF.Log2(amax)) - 2 + 127) : (byte)0;
            float d = E8M0Half(e);
            block[0] = e;
            for (int j = 0; j < 16; ++j)
            {
                block[1 + j] = (byte)(BestFp4(xb[j], d) | (BestFp4(xb[j + 16], d) << 4));
            }
        }
    }

    public static void NVFP4(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int ib = 0; ib < x.Length / 64; ib++)
        {
            var block = y.Slice(36 * ib, 36); // d[4] (UE4M3 per 16), qs[32]
            for (int s = 0; s < 4; s++)
            {
                var xb = x.Slice(64 * ib + 16 * s, 16);
                float amax = 0;
                for (int j = 0; j < 16; j++)
                {
                    if (amax < MathF.Abs(xb[j])) amax = MathF.Abs(xb[j]);
                }

                byte ue = ToUE4M3(amax / 6.0f);
                block[s] = ue;
                float d = UE4M3Half(ue);
                for (int j = 0; j < 8; ++j)
                {
                    block[4 + 8 * s + j] = (byte)(BestFp4(xb[j], d) | (BestFp4(xb[8 + j], d) << 4));
                }
            }
        }
    }

    public static void TQ1_0(ReadOnlySpan<float> row, Span<byte> dst)
    {
        for (int ib = 0; ib < row.Length / 256; ib++)
        {
            var x = row.Slice(256 * ib, 256);
            var y = dst.Slice(54 * ib, 54); // qs[48] (5 trits/byte), qh[4] (4 trits/byte), d
            float amax = 0;
            for (int j = 0; j < 256; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(y[52..], d);

            // 32 bytes of 5 trits spaced 32 apart, 16 bytes spaced 16 apart, then 4 bytes of 4 trits spaced 4 apart.
            PackTrits(x[..160], y[..32], 32, 5, id, false);
            PackTrits(x.Slice(160, 80), y.Slice(32, 16), 16, 5, id, false);
            PackTrits(x.Slice(240, 16), y.Slice(48, 4), 4, 4, id, true);
        }
    }

    private static void PackTrits(ReadOnlySpan<float> x, Span<byte> y, int stride, int trits, float id, bool padTrit)
    {
        for (int m = 0; m < stride; ++m)
        {
            int q = 0;
            for (int n = 0; n < trits; ++n)
            {
                int xi = (int)MathF.Round(x[m + n * stride] * id, MidpointRounding.AwayFromZero) + 1;
                q = (byte)(q * 3 + xi);
            }

            if (padTrit)
            {
                q = (byte)(q * 3); // the first value becomes the most significant of 5 trits
            }

            // Ceiling of q * 256 / 243 so that the top trit can be read back with a multiply.
            y[m] = (byte)((q * 256 + 242) / 243);
        }
    }

    public static void TQ2_0(ReadOnlySpan<float> row, Span<byte> dst)
    {
        for (int ib = 0; ib < row.Length / 256; ib++)
        {
            var x = row.Slice(256 * ib, 256);
            var y = dst.Slice(66 * ib, 66); // qs[64], d
            float amax = 0;
            for (int j = 0; j < 256; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float d = amax;
            float id = d != 0 ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(y[64..], d);
            for (int j = 0; j < 64; j += 32)
            {
                for (int m = 0; m < 32; ++m)
                {
                    int q = 0;
                    for (int n = 0; n < 4; ++n)
                    {
                        int xi = (int)MathF.Round(x[4 * j + m + n * 32] * id, MidpointRounding.AwayFromZero) + 1;
                        q += (xi & 3) << (2 * n);
                    }

                    y[j + m] = (byte)q;
                }
            }
        }
    }

    public static void Q1_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int ib = 0; ib < x.Length / 128; ib++)
        {
            var xb = x.Slice(128 * ib, 128);
            var block = y.Slice(18 * ib, 18); // d, qs[16]: one sign bit per value
            float sumAbs = 0;
            for (int j = 0; j < 128; j++) sumAbs += MathF.Abs(xb[j]);
            QuantMath.WriteHalf(block, sumAbs / 128);
            var qs = block[2..];
            qs.Clear();
            for (int j = 0; j < 128; ++j)
            {
                if (xb[j] >= 0.0f) qs[j / 8] |= (byte)(1 << (j % 8));
            }
        }
    }

    public static void Q2_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int ib = 0; ib < x.Length / 64; ib++)
        {
            var xb = x.Slice(64 * ib, 64);
            var block = y.Slice(18 * ib, 18); // d, qs[16]: levels -1..2 biased by 1
            float amax = 0;
            for (int j = 0; j < 64; j++)
            {
                float a = MathF.Abs(xb[j]);
                if (a > amax) amax = a;
            }

            float id = amax > 0.0f ? 1.0f / amax : 0.0f;
            QuantMath.WriteHalf(block, amax);
            var qs = block[2..];
            qs.Clear();
            for (int j = 0; j < 64; ++j)
            {
                int q = (int)MathF.Round(xb[j] * id, MidpointRounding.AwayFromZero) + 1;
                q = Math.Clamp(q, 0, 3);
                qs[j / 4] |= (byte)(q << ((j % 4) * 2));
            }
        }
    }

    private static int BestFp4(float x, float e)
    {
        var values = Fp4;
        int best = 0;
        float bestErr = MathF.Abs(values[0] * e - x);
        for (int i = 1; i < 16; i++)
        {
            float err = MathF.Abs(values[i] * e - x);
            if (err < bestErr)
            {
                best = i;
                bestErr = err;
            }
        }

        return best;
    }

    /// <summary>E8M0 exponent to float, halved (the FP4 grid is stored doubled).</summary>
    private static float E8M0Half(byte e) =>
        BitConverter.UInt32BitsToSingle(e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23);

    private static float UE4M3Half(byte x)
    {
        if (x == 0 || x == 0x7F)
        {
            return 0.0f;
        }

        int exp = (x >> 3) & 0xF, man = x & 0x7;
        float raw = exp == 0 ? MathF.ScaleB(man, -9) : MathF.ScaleB(1.0f + man / 8.0f, exp - 7);
        return raw * 0.5f;
    }

    // Unsigned E4M3 with round-half-up on the dropped mantissa bit, saturating at 0x7E.
    private static byte ToUE4M3(float x)
    {
        if (!(x > 0.0f)) return 0;
        if (x > 448.0f) x = 448.0f;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        int exp = (int)((bits >> 23) & 0xFF) - 127 + 7;
        int man = (int)((bits >> 20) & 0x7);
        if (exp <= 0)
        {
            int sub = (int)(x * 512.0f + 0.5f);
            if (sub > 7) sub = 7;
            return sub < 1 ? (byte)0 : (byte)sub;
        }

        if (exp >= 15) return 0x7E;
        man += (int)((bits >> 19) & 1);
        if (man > 7)
        {
            man = 0;
            if (++exp >= 15) return 0x7E;
        }

        return (byte)((exp << 3) | man);
    }
}
