namespace QuantPS.Quantization.Types;

/// <summary>Searches used by the K-quants only (super-block scale quantization, Q3_K's levels).</summary>
internal static class KQuantMath
{
    /// <summary>Unsigned levels 0..nmax for non-negative x (the sub-block scales), weighted refinement.</summary>
    public static float MakeQp(int n, int nmax, ReadOnlySpan<float> x, Span<byte> levels, ReadOnlySpan<float> weights)
    {
        float max = 0;
        for (int i = 0; i < n; ++i)
        {
            max = max > x[i] ? max : x[i];
        }

        if (max < QuantMath.GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }

        float iscale = nmax / max;
        for (int i = 0; i < n; ++i)
        {
            levels[i] = (byte)QuantMath.NearestInt(iscale * x[i]);
        }

        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; ++i)
        {
            float diff = x[i] - scale * levels[i];
            float w = weights[i];
            bestMse += w * diff * diff;
        }

        for (int step = -4; step <= 4; ++step)
        {
            if (step == 0)
            {
                continue;
            }

            float iscaleStep = (0.1f * step + nmax) / max;
            float scaleStep = 1 / iscaleStep;
            float mse = 0;
            for (int i = 0; i < n; ++i)
            {
                int l = Math.Min(nmax, QuantMath.NearestInt(iscaleStep * x[i]));
                float diff = x[i] - scaleStep * l;
                float w = weights[i];
                mse += w * diff * diff;
            }

            if (mse < bestMse)
            {
                bestMse = mse;
                iscale = iscaleStep;
            }
        }

        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i)
        {
            int l = Math.Min(nmax, QuantMath.NearestInt(iscale * x[i]));
            levels[i] = (byte)l;
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }

        for (int attempt = 0; attempt < 5; ++attempt)
        {
            int changed = 0;
            for (int i = 0; i < n; ++i)
            {
                float w = weights[i];
                float slx = sumlx - w * x[i] * levels[i];
                float sl2 = suml2 - w * levels[i] * levels[i];
                if (slx > 0 && sl2 > 0)
                {
                    int newL = Math.Min(nmax, QuantMath.NearestInt(x[i] * sl2 / slx));
                    if (newL != levels[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = (byte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            ++changed;
                        }
                    }
                }
            }

            if (changed == 0)
            {
                break;
            }
        }

        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    /// <summary>Q3_K's unweighted search: levels biased by nmax, optional x²-weighted refinement.</summary>
    public static float MakeQ3(int n, int nmax, ReadOnlySpan<float> x, Span<sbyte> levels, bool doRmse)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }

        if (amax < QuantMath.GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }

        float iscale = -nmax / max;
        if (doRmse)
        {
            float sumlx = 0, suml2 = 0;
            for (int i = 0; i < n; ++i)
            {
                int l = QuantMath.NearestInt(iscale * x[i]);
                l = Math.Max(-nmax, Math.Min(nmax - 1, l));
                levels[i] = (sbyte)l;
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }

            for (int attempt = 0; attempt < 5; ++attempt)
            {
                int changed = 0;
                for (int i = 0; i < n; ++i)
                {
                    float w = x[i] * x[i];
                    float slx = sumlx - w * x[i] * levels[i];
                    if (slx > 0)
                    {
                        float sl2 = suml2 - w * levels[i] * levels[i];
                        int newL = QuantMath.NearestInt(x[i] * sl2 / slx);
                        newL = Math.Max(-nmax, Math.Min(nmax - 1, newL));
                        if (newL != levels[i])
                        {
                            slx += w * x[i] * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                            {
                                levels[i] = (sbyte)newL;
                                sumlx = slx;
                                suml2 = sl2;
                                ++changed;
                            }
                        }
                    }
                }

                if (changed == 0)
                {
                    break;
                }
            }

            for (int i = 0; i < n; ++i)
            {
                levels[i] += (sbyte)nmax;
            }

            return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
        }

        for (int i = 0; i < n; ++i)
        {
            int l = QuantMath.NearestInt(iscale * x[i]);
            levels[i] = (sbyte)(Math.Max(-nmax, Math.Min(nmax - 1, l)) + nmax);
        }

        return 1 / iscale;
    }
}
