namespace QuantPS.Quantization.Types;

/// <summary>Q2_K and Q3_K: 16 sub-blocks of 16 with 2- or 3-bit levels.</summary>
internal static partial class KQuantizers
{
    public static void Q2_K(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        Span<byte> levels = stackalloc byte[QK];
        Span<float> weights = stackalloc float[QK];
        Span<float> mins = stackalloc float[16];
        Span<float> scales = stackalloc float[16];
        Span<float> sw = stackalloc float[16];
        Span<byte> ls = stackalloc byte[16];
        Span<byte> lm = stackalloc byte[16];
        for (int i = 0; i < row.Length / QK; i++)
        {
            var x = row.Slice(i * QK, QK);
            var y = dst.Slice(i * 84, 84); // scales[16] qs[64] d dmin
            var packedScales = y[..16];
            float dq, mq;
            if (importance.IsEmpty)
            {
                const float q4scale = 15f;
                for (int l = 0; l < QK; ++l) weights[l] = MathF.Abs(x[l]);
                SubBlockLanes.MakeQkx(16, 3, x, weights, levels, scales, mins, -0.5f, 0.1f, 15, true);
                float maxScale = 0, maxMin = 0;
                for (int j = 0; j < 16; ++j)
                {
                    if (scales[j] > maxScale) maxScale = scales[j];
                    if (mins[j] > maxMin) maxMin = mins[j];
                }

                if (maxScale > 0)
                {
                    float iscale = q4scale / maxScale;
                    for (int j = 0; j < 16; ++j) packedScales[j] = (byte)QuantMath.NearestInt(iscale * scales[j]);
                    QuantMath.WriteHalf(y[80..], maxScale / q4scale);
                }
                else
                {
                    packedScales.Clear();
                    QuantMath.WriteHalf(y[80..], 0f);
                }

                if (maxMin > 0)
                {
                    float iscale = q4scale / maxMin;
                    for (int j = 0; j < 16; ++j) packedScales[j] |= (byte)(QuantMath.NearestInt(iscale * mins[j]) << 4);
                    QuantMath.WriteHalf(y[82..], maxMin / q4scale);
                }
                else
                {
                    QuantMath.WriteHalf(y[82..], 0f);
                }
            }
            else
            {
                var qwBlock = importance.Slice(i * QK, QK);
                sw.Clear();
                float sumX2 = 0;
                for (int j = 0; j < QK; ++j) sumX2 += x[j] * x[j];
                float sigma2 = sumX2 / QK;
                for (int j = 0; j < 16; ++j)
                {
                    var xs = x.Slice(16 * j, 16);
                    var q = qwBlock.Slice(16 * j, 16);
                    var wj = weights.Slice(16 * j, 16);
                    for (int l = 0; l < 16; ++l) wj[l] = q[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                    for (int l = 0; l < 16; ++l) sw[j] += wj[l];
                }

                SubBlockLanes.MakeQkx(16, 3, x, weights, levels, scales, mins, -0.9f, 0.05f, 36, false);

                float dm = KQuantMath.MakeQp(16, 15, scales, ls, sw);
                float mm = KQuantMath.MakeQp(16, 15, mins, lm, sw);
                QuantMath.WriteHalf(y[80..], dm);
                QuantMath.WriteHalf(y[82..], mm);
                for (int j = 0; j < 16; ++j) packedScales[j] = (byte)(ls[j] | (lm[j] << 4));
            }

            dq = Kernels.FloatConversions.HalfToSingle(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(y[80..]));
            mq = Kernels.FloatConversions.HalfToSingle(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(y[82..]));
            for (int j = 0; j < 16; ++j)
            {
                float d = dq * (packedScales[j] & 0xF);
                if (d == 0)
                {
                    continue;
                }

                float m = mq * (packedScales[j] >> 4);
                for (int ii = 0; ii < 16; ++ii)
                {
                    int l = QuantMath.NearestInt((x[16 * j + ii] + m) / d);
                    levels[16 * j + ii] = (byte)Math.Max(0, Math.Min(3, l));
                }
            }

            PackTwoBit(levels, y.Slice(16, 64));
        }
    }

    public static void Q3_K(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        Span<sbyte> levels = stackalloc sbyte[QK];
        Span<float> scales = stackalloc float[16];
        Span<float> weights = stackalloc float[16];
        Span<float> sw = stackalloc float[16];
        Span<sbyte> ls = stackalloc sbyte[16];
        Span<byte> low = stackalloc byte[QK];
        for (int i = 0; i < row.Length / QK; i++)
        {
            var x = row.Slice(i * QK, QK);
            var y = dst.Slice(i * 110, 110); // hmask[32] qs[64] scales[12] d
            var packed = y.Slice(96, 12);
            packed.Clear();
            if (importance.IsEmpty)
            {
                float maxScale = 0, amax = 0;
                for (int j = 0; j < 16; ++j)
                {
                    scales[j] = KQuantMath.MakeQ3(16, 4, x.Slice(16 * j, 16), levels.Slice(16 * j, 16), true);
                    float scale = MathF.Abs(scales[j]);
                    if (scale > amax) { amax = scale; maxScale = scales[j]; }
                }

                if (maxScale != 0)
                {
                    float iscale = -32f / maxScale;
                    for (int j = 0; j < 16; ++j)
                    {
                        int l = (sbyte)QuantMath.NearestInt(iscale * scales[j]);
                        PackScale6(packed, j, Math.Max(-32, Math.Min(31, l)) + 32);
                    }

                    QuantMath.WriteHalf(y[108..], 1 / iscale);
                }
                else
                {
                    QuantMath.WriteHalf(y[108..], 0f);
                }
            }
            else
            {
                var qwBlock = importance.Slice(i * QK, QK);
                float sumX2 = 0;
                for (int j = 0; j < QK; ++j) sumX2 += x[j] * x[j];
                float sigma2 = 2 * sumX2 / QK;
                for (int j = 0; j < 16; ++j)
                {
                    var xs = x.Slice(16 * j, 16);
                    var q = qwBlock.Slice(16 * j, 16);
                    for (int l = 0; l < 16; ++l) weights[l] = q[l] * MathF.Sqrt(sigma2 + xs[l] * xs[l]);
                    float sumW = 0;
                    for (int l = 0; l < 16; ++l) sumW += weights[l];
                    sw[j] = sumW;
                    scales[j] = QuantMath.MakeQx(16, 4, xs, levels.Slice(16 * j, 16), 1, weights);
                }

                float dBlock = QuantMath.MakeQx(16, 32, scales, ls, 1, sw);
                for (int j = 0; j < 16; ++j) PackScale6(packed, j, ls[j]);
                QuantMath.WriteHalf(y[108..], dBlock);
            }

            float dq = Kernels.FloatConversions.HalfToSingle(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(y[108..]));
            for (int j = 0; j < 16; ++j)
            {
                int sc = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
                sc = (sbyte)((sc | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
                float d = dq * sc;
                if (d == 0)
                {
                    continue;
                }

                for (int ii = 0; ii < 16; ++ii)
                {
                    int l = QuantMath.NearestInt(x[16 * j + ii] / d);
                    levels[16 * j + ii] = (sbyte)(Math.Max(-4, Math.Min(3, l)) + 4);
                }
            }

            // The high bit of value j goes to bit (j / 32) of hmask[j % 32].
            var hmask = y[..32];
            hmask.Clear();
            for (int j = 0; j < QK; ++j)
            {
                int l = levels[j];
                if (l > 3)
                {
                    hmask[j % 32] |= (byte)(1 << (j / 32));
                    l -= 4;
                }

                low[j] = (byte)l;
            }

            PackTwoBit(low, y.Slice(32, 64));
        }
    }

    // A 6-bit scale: low nibble into bytes 0..7 (two per byte), top two bits into bytes 8..11.
    private static void PackScale6(Span<byte> packed, int j, int l)
    {
        if (j < 8)
        {
            packed[j] = (byte)(l & 0xF);
        }
        else
        {
            packed[j - 8] |= (byte)((l & 0xF) << 4);
        }

        packed[j % 4 + 8] |= (byte)((l >> 4) << (2 * (j / 4)));
    }

    private static void PackTwoBit(ReadOnlySpan<byte> levels, Span<byte> qs)
    {
        for (int j = 0; j < QK; j += 128)
        {
            for (int l = 0; l < 32; ++l)
            {
                qs[j / 4 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6));
            }
        }
    }
}
