namespace QuantPS.Quantization.Types;

/// <summary>
/// Q2_K..Q6_K (super-blocks of 256), as ggml's quantize_q*_K: without importance the *_ref
/// search, with it the weighted *_impl one.
/// </summary>
internal static partial class KQuantizers
{
    private const int QK = 256;

    public static void Q4_K(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> qw) => FourFiveBit(x, y, qw, fiveBit: false);

    public static void Q5_K(ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> qw) => FourFiveBit(x, y, qw, fiveBit: true);

    // Q4_K and Q5_K share everything but nmax and the packing of the fifth bit.
    private static void FourFiveBit(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance, bool fiveBit)
    {
        int nmax = fiveBit ? 31 : 15;
        int blockBytes = fiveBit ? 176 : 144;
        Span<byte> levels = stackalloc byte[QK];
        Span<float> weights = stackalloc float[QK];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        Span<float> sw = stackalloc float[8];
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        for (int i = 0; i < row.Length / QK; i++)
        {
            var x = row.Slice(i * QK, QK);
            var y = dst.Slice(i * blockBytes, blockBytes);
            var packedScales = y.Slice(4, 12);
            packedScales.Clear();
            float d, dmin;
            if (importance.IsEmpty)
            {
                SubBlockLanes.AverageMagnitudeWeights(x, 32, weights);

                if (fiveBit) SubBlockLanes.MakeQkx(32, nmax, x, weights, levels, scales, mins, -0.5f, 0.1f, 15, false);
                else SubBlockLanes.MakeQkx(32, nmax, x, weights, levels, scales, mins, -1f, 0.1f, 20, false);
                float maxScale = 0, maxMin = 0;
                for (int j = 0; j < 8; ++j)
                {
                    if (scales[j] > maxScale) maxScale = scales[j];
                    if (mins[j] > maxMin) maxMin = mins[j];
                }

                float invScale = maxScale > 0 ? 63f / maxScale : 0f;
                float invMin = maxMin > 0 ? 63f / maxMin : 0f;
                for (int j = 0; j < 8; ++j)
                {
                    ls[j] = Math.Min((byte)63, (byte)QuantMath.NearestInt(invScale * scales[j]));
                    lm[j] = Math.Min((byte)63, (byte)QuantMath.NearestInt(invMin * mins[j]));
                }

                d = maxScale / 63f;
                dmin = maxMin / 63f;
            }
            else
            {
                var qwBlock = importance.Slice(i * QK, QK);
                float sumX2 = 0;
                for (int l = 0; l < QK; ++l) sumX2 += x[l] * x[l];
                float sigma2 = 2 * sumX2 / QK;
                for (int j = 0; j < 8; ++j)
                {
                    var xs = x.Slice(32 * j, 32);
                    var q = qwBlock.Slice(32 * j, 32);
                    var wj = weights.Slice(32 * j, 32);
                    for (int l = 0; l < 32; ++l) wj[l] = q[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                    float sumW = 0;
                    for (int l = 0; l < 32; ++l) sumW += wj[l];
                    sw[j] = sumW;
                }

                SubBlockLanes.MakeQkx(32, nmax, x, weights, levels, scales, mins, -0.9f, 0.05f, 36, false);

                d = KQuantMath.MakeQp(8, 63, scales, ls, sw);
                dmin = KQuantMath.MakeQp(8, 63, mins, lm, sw);
            }

            for (int j = 0; j < 8; ++j)
            {
                if (j < 4)
                {
                    packedScales[j] = ls[j];
                    packedScales[j + 4] = lm[j];
                }
                else
                {
                    packedScales[j + 4] = (byte)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                    packedScales[j - 4] |= (byte)((ls[j] >> 4) << 6);
                    packedScales[j] |= (byte)((lm[j] >> 4) << 6);
                }
            }

            QuantMath.WriteHalf(y, d);
            QuantMath.WriteHalf(y[2..], dmin);
            float dq = QuantMath.RoundHalf(d), dminq = QuantMath.RoundHalf(dmin);
            for (int j = 0; j < 8; ++j)
            {
                ScaleMinK4(j, packedScales, out int sc, out int m);
                float ds = dq * sc;
                if (ds == 0)
                {
                    continue;
                }

                SubBlockLanes.Requantize(x.Slice(32 * j, 32), dminq * m, ds, nmax, levels.Slice(32 * j, 32));
            }

            if (fiveBit)
            {
                var qh = y.Slice(16, 32);
                var ql = y.Slice(48, 128);
                qh.Clear();
                byte m1 = 1, m2 = 2;
                for (int n = 0; n < QK; n += 64)
                {
                    for (int j = 0; j < 32; ++j)
                    {
                        // Branch-free: the fifth bit of each level goes to qh, the low four to ql.
                        int l1 = levels[n + j], l2 = levels[n + j + 32];
                        qh[j] |= (byte)(((l1 >> 4) * m1) | ((l2 >> 4) * m2));
                        ql[n / 2 + j] = (byte)((l1 & 15) | ((l2 & 15) << 4));
                    }

                    m1 <<= 2;
                    m2 <<= 2;
                }
            }
            else
            {
                var qs = y.Slice(16, 128);
                for (int j = 0; j < QK; j += 64)
                {
                    for (int l = 0; l < 32; ++l) qs[j / 2 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
                }
            }
        }
    }

    internal static void ScaleMinK4(int j, ReadOnlySpan<byte> q, out int d, out int m)
    {
        if (j < 4)
        {
            d = q[j] & 63;
            m = q[j + 4] & 63;
        }
        else
        {
            d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    public static void Q6_K(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        Span<sbyte> levels = stackalloc sbyte[QK];
        Span<float> scales = stackalloc float[16];
        for (int i = 0; i < row.Length / QK; i++)
        {
            var x = row.Slice(i * QK, QK);
            var y = dst.Slice(i * 210, 210); // ql[128] qh[64] scales[16] d
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ++ib)
            {
                var q = importance.IsEmpty ? default : importance.Slice(i * QK + 16 * ib, 16);
                float scale = QuantMath.MakeQx(16, 32, x.Slice(16 * ib, 16), levels.Slice(16 * ib, 16), 1, q);
                scales[ib] = scale;
                float absScale = MathF.Abs(scale);
                if (absScale > maxAbsScale)
                {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }

            if (maxAbsScale < QuantMath.GroupMaxEps)
            {
                y.Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            QuantMath.WriteHalf(y[208..], 1 / iscale);
            float dq = QuantMath.RoundHalf(1 / iscale);
            var blockScales = y.Slice(192, 16);
            for (int ib = 0; ib < 16; ++ib)
            {
                blockScales[ib] = (byte)(sbyte)Math.Min(127, QuantMath.NearestInt(iscale * scales[ib]));
            }

            for (int j = 0; j < 16; ++j)
            {
                float d = dq * (sbyte)blockScales[j];
                if (d == 0)
                {
                    continue;
                }

                for (int ii = 0; ii < 16; ++ii)
                {
                    int l = QuantMath.NearestInt(x[16 * j + ii] / d);
                    levels[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, l)) + 32);
                }
            }

            var ql = y[..128];
            var qh = y.Slice(128, 64);
            for (int j = 0; j < QK; j += 128)
            {
                for (int l = 0; l < 32; ++l)
                {
                    int a = levels[j + l], b = levels[j + l + 32], c = levels[j + l + 64], e = levels[j + l + 96];
                    ql[j / 2 + l] = (byte)((a & 0xF) | ((c & 0xF) << 4));
                    ql[j / 2 + l + 32] = (byte)((b & 0xF) | ((e & 0xF) << 4));
                    qh[j / 4 + l] = (byte)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
                }
            }
        }
    }
}
