namespace QuantPS.Quantization.Types;

/// <summary>
/// The scale search the IQ2 and IQ3 quantizers share (ggml's quantize_row_iq2_*/iq3_*): magnitudes are
/// rounded to levels l for the odd values 2l+1 at a range of trial scales, each group of
/// <see cref="IQuantGrid.Dimension"/> levels is snapped to the lattice (the nearest listed neighbour
/// when it is off it), and the scale with the best weighted fit wins. Float order as in ggml.
/// </summary>
internal static class LatticeSearch
{
    /// <summary>
    /// How one type runs the search. Trial scales are (2·MaxLevel+1 + s·<paramref name="Step"/>)/reference
    /// for s in ±<paramref name="Steps"/>. After the trials the groups are snapped again at the best scale:
    /// <paramref name="RefineAlways"/> (else only when a group of the winner was off the lattice), and
    /// then <paramref name="RefineAllGroups"/> (else only those off it). <paramref name="StartOnGrid"/>:
    /// whether groups count as on the lattice when no trial improved on the start.
    /// </summary>
    public readonly record struct Shape(int Steps, float Step, bool StartOnGrid, bool RefineAlways, bool RefineAllGroups);

    /// <summary>
    /// Searches the scale for one block of magnitudes <paramref name="xval"/>. <paramref name="levels"/>
    /// holds the start levels and receives the chosen ones; <paramref name="scale"/> is the start scale.
    /// </summary>
    public static float Search(IQuantGrid grid, in Shape shape, ReadOnlySpan<float> xval, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> waux, float reference, float scale, Span<sbyte> levels)
    {
        int dim = grid.Dimension;
        int n = xval.Length;
        int groups = n / dim;
        int top = 2 * grid.MaxLevel + 1; // ggml's 2*kMaxQ-1
        Span<sbyte> trial = stackalloc sbyte[n];
        Span<bool> onGrid = stackalloc bool[groups];
        Span<bool> trialOnGrid = stackalloc bool[groups];
        onGrid.Fill(shape.StartOnGrid);

        float best = 0;
        for (int s = -shape.Steps; s <= shape.Steps; ++s)
        {
            float id = (top + s * shape.Step) / reference;
            float thisScale = 1 / id;
            for (int k = 0; k < groups; ++k)
            {
                var lk = trial.Slice(dim * k, dim);
                int u = RoundLevels(grid, id, xval.Slice(dim * k, dim), lk);
                trialOnGrid[k] = grid.IndexOf(u) >= 0;
                if (!trialOnGrid[k])
                {
                    BestNeighbour(grid, grid.NeighboursOf(u), xval.Slice(dim * k, dim), waux.Slice(dim * k, dim), thisScale, lk);
                }
            }

            float sumqx = 0, sumq2 = 0;
            for (int i = 0; i < n; ++i)
            {
                float w = weight[i];
                float q = 2 * trial[i] + 1;
                sumqx += w * xval[i] * q;
                sumq2 += w * q * q;
            }

            if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
            {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                trial.CopyTo(levels);
                trialOnGrid.CopyTo(onGrid);
            }
        }

        bool anyOff = onGrid.Contains(false);
        if (scale > 0 && (shape.RefineAlways || anyOff))
        {
            float id = 1 / scale;
            for (int k = 0; k < groups; ++k)
            {
                if (!shape.RefineAllGroups && onGrid[k]) continue;
                var lk = levels.Slice(dim * k, dim);
                int u = RoundLevels(grid, id, xval.Slice(dim * k, dim), lk);
                if (grid.IndexOf(u) < 0)
                {
                    BestNeighbour(grid, grid.NeighboursOf(u), xval.Slice(dim * k, dim), waux.Slice(dim * k, dim), scale, lk);
                }
            }

            float sumqx = 0, sumq2 = 0;
            for (int i = 0; i < n; ++i)
            {
                float w = weight[i];
                float q = 2 * levels[i] + 1;
                sumqx += w * xval[i] * q;
                sumq2 += w * q * q;
            }

            if (sumq2 > 0) scale = sumqx / sumq2;
        }

        return scale;
    }

    /// <summary>The lattice index of a group of levels that must be a point (ggml aborts otherwise).</summary>
    public static int PointIndex(IQuantGrid grid, ReadOnlySpan<sbyte> levels)
    {
        int u = 0;
        for (int i = 0; i < grid.Dimension; ++i) u |= levels[i] << (grid.Bits * i);
        int index = grid.IndexOf(u);
        if (index < 0)
        {
            throw new QuantizationException(QuantizationErrorIds.GridSearchFailed,
                $"The levels {u} are not on the lattice; the input probably holds NaN or infinite values.");
        }

        return index;
    }

    /// <summary>
    /// Splits a block into magnitudes and sign bits per group of 8. With <paramref name="evenParity"/>
    /// (IQ2_XXS, IQ2_XS, IQ3_XXS store 7 sign bits) an odd count of negatives flips back the value that
    /// costs least (smallest weight·x²), leaving it negative in <paramref name="xval"/>.
    /// </summary>
    public static void SplitSigns(ReadOnlySpan<float> xb, ReadOnlySpan<float> weight, Span<float> xval, Span<byte> signs, bool evenParity)
    {
        for (int k = 0; k < xb.Length / 8; ++k)
        {
            int flips = 0;
            int s = 0;
            for (int i = 0; i < 8; ++i)
            {
                float v = xb[8 * k + i];
                if (v >= 0)
                {
                    xval[8 * k + i] = v;
                }
                else
                {
                    xval[8 * k + i] = -v;
                    ++flips;
                    s |= 1 << i;
                }
            }

            if (evenParity)
            {
                if (flips % 2 != 0)
                {
                    int imin = 0;
                    float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                    for (int i = 1; i < 8; ++i)
                    {
                        float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                        if (ax < min)
                        {
                            min = ax;
                            imin = i;
                        }
                    }

                    xval[8 * k + imin] = -xval[8 * k + imin];
                    s ^= 1 << imin;
                }

                s &= 127;
            }

            signs[k] = (byte)s;
        }
    }

    /// <summary>ggml's MAX macro (a &gt; b ? a : b), which differs from Math.Max for NaN and signed zeros.</summary>
    public static float Max(float a, float b) => a > b ? a : b;

    /// <summary>The mean square of a super-block, times <paramref name="factor"/> (ggml's sigma2).</summary>
    public static float Sigma2(ReadOnlySpan<float> xbl, float factor)
    {
        float sumx2 = 0;
        for (int i = 0; i < xbl.Length; ++i) sumx2 += xbl[i] * xbl[i];
        return factor * sumx2 / xbl.Length;
    }

    /// <summary>Sets weight = qw·√(σ² + x²) (with importance) and waux = √weight.</summary>
    public static void ImportanceWeights(ReadOnlySpan<float> xb, ReadOnlySpan<float> qw, float sigma2, Span<float> weight)
    {
        for (int i = 0; i < xb.Length; ++i) weight[i] = qw[i] * MathF.Sqrt(sigma2 + xb[i] * xb[i]);
    }

    public static void SquareRoots(ReadOnlySpan<float> weight, Span<float> waux)
    {
        for (int i = 0; i < weight.Length; ++i) waux[i] = MathF.Sqrt(weight[i]);
    }

    /// <summary>The 4-bit block scale code ggml stores for an IQ2/IQ3 block scale.</summary>
    public static int ScaleCode(float id, float scale, int max)
    {
        int l = QuantMath.NearestInt(0.5f * (id * scale - 1));
        return Math.Max(0, Math.Min(max, l));
    }

    // Levels for the magnitudes at inverse scale id, clamped to the lattice's range; returns their index.
    private static int RoundLevels(IQuantGrid grid, float id, ReadOnlySpan<float> xval, Span<sbyte> levels)
    {
        int u = 0;
        for (int i = 0; i < grid.Dimension; ++i)
        {
            int l = QuantMath.NearestInt(0.5f * (id * xval[i] - 1));
            l = Math.Max(0, Math.Min(grid.MaxLevel, l));
            levels[i] = (sbyte)l;
            u |= l << (grid.Bits * i);
        }

        return u;
    }

    // The listed neighbour nearest in weighted distance (the first of equals); writes its levels.
    private static int BestNeighbour(IQuantGrid grid, ReadOnlySpan<ushort> neighbours, ReadOnlySpan<float> xval,
        ReadOnlySpan<float> weight, float scale, Span<sbyte> levels)
    {
        float bestD2 = float.MaxValue;
        int index = -1;
        foreach (ushort candidate in neighbours)
        {
            var pg = grid.Point(candidate);
            float d2 = 0;
            for (int i = 0; i < pg.Length; ++i)
            {
                float q = pg[i];
                float diff = scale * q - xval[i];
                d2 += weight[i] * diff * diff;
            }

            if (d2 < bestD2)
            {
                bestD2 = d2;
                index = candidate;
            }
        }

        if (index < 0)
        {
            throw new QuantizationException(QuantizationErrorIds.GridSearchFailed,
                "No lattice point fits a group of values; the input probably holds NaN or infinite values.");
        }

        grid.LevelsOf(index, levels);
        return index;
    }
}
