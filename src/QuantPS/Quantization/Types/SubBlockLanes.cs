using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantPS.Quantization.Types;

/// <summary>
/// ggml's make_qkx2/make_qkx3 (<see cref="QuantMath.MakeQkx"/>) for many sub-blocks at once,
/// one SIMD lane per sub-block. Each lane runs exactly the scalar sequence for its own
/// sub-block (same sums in the same order, no FMA, the same candidate order and strict &lt; test),
/// so scales, mins and levels are bit-for-bit the scalar ones. Unlike a lane per candidate
/// (<see cref="CandidateLanes"/>), nothing here depends across lanes: a winner that moves a
/// sub-block's offset only changes that lane, so there are no restarts.
/// Why not in the kernel generator: it is ggml's scale search, not a block-format kernel.
/// </summary>
[SkipLocalsInit]
internal static class SubBlockLanes
{
    /// <summary>Longest sub-block handled (values are kept transposed on the stack).</summary>
    public const int MaxValues = 32;

    /// <summary>
    /// Searches every <paramref name="n"/>-value sub-block of <paramref name="x"/>: its scale goes to
    /// <paramref name="scales"/>, its offset (negated, as MakeQkx's theMin) to <paramref name="mins"/>,
    /// its levels to <paramref name="levels"/>. <paramref name="weights"/> empty means x² as weights.
    /// </summary>
    public static void MakeQkx(int n, int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        Span<float> scales, Span<float> mins, float rmin, float rdelta, int nstep, bool useMad)
    {
        int count = x.Length / n;
        if (!Vector.IsHardwareAccelerated || n > MaxValues)
        {
            Span<byte> aux = stackalloc byte[n];
            for (int b = 0; b < count; b++)
            {
                scales[b] = QuantMath.MakeQkx(n, nmax, x.Slice(b * n, n), weights.IsEmpty ? default : weights.Slice(b * n, n),
                    levels.Slice(b * n, n), out mins[b], aux, rmin, rdelta, nstep, useMad);
            }

            return;
        }

        int lanes = Vector<float>.Count;
        Span<Vector<float>> xt = stackalloc Vector<float>[n];
        Span<Vector<float>> wt = stackalloc Vector<float>[n];
        Span<Vector<int>> best = stackalloc Vector<int>[n];
        Span<Vector<float>> trial = stackalloc Vector<float>[n];
        var xs = MemoryMarshal.Cast<Vector<float>, float>(xt);
        var ws = MemoryMarshal.Cast<Vector<float>, float>(wt);
        for (int first = 0; first < count; first += lanes)
        {
            int live = Math.Min(lanes, count - first);
            // Transposed: value i of sub-block first+j sits in lane j of xt[i]. Spare lanes repeat the last sub-block.
            for (int j = 0; j < lanes; j++)
            {
                int b = (first + Math.Min(j, live - 1)) * n;
                for (int i = 0; i < n; i++)
                {
                    float v = x[b + i];
                    xs[i * lanes + j] = v;
                    ws[i * lanes + j] = weights.IsEmpty ? v * v : weights[b + i];
                }
            }

            Search(n, nmax, xt, wt, best, trial, rmin, rdelta, nstep, useMad, out var scale, out var min, out var degenerate);
            var bestLanes = MemoryMarshal.Cast<Vector<int>, int>(best);
            for (int j = 0; j < live; j++)
            {
                int b = first + j;
                mins[b] = -min[j];
                if (degenerate[j] != 0)
                {
                    // max <= min: all levels 0, scale 0 (MakeQkx's early return).
                    levels.Slice(b * n, n).Clear();
                    scales[b] = 0f;
                    continue;
                }

                scales[b] = scale[j];
                for (int i = 0; i < n; i++)
                {
                    levels[b * n + i] = (byte)bestLanes[i * lanes + j];
                }
            }
        }
    }

    /// <summary>
    /// Q4_K/Q5_K's weights without importance: per sub-block, sqrt(Σx²/n) + |x|. The sums run in
    /// ggml's order per sub-block, interleaved across sub-blocks so the add chains overlap.
    /// </summary>
    public static void AverageMagnitudeWeights(ReadOnlySpan<float> x, int n, Span<float> weights)
    {
        int count = x.Length / n;
        Span<float> sums = stackalloc float[count];
        sums.Clear();
        for (int i = 0; i < n; ++i)
        {
            for (int b = 0; b < count; ++b)
            {
                float v = x[b * n + i];
                sums[b] += v * v;
            }
        }

        for (int b = 0; b < count; ++b)
        {
            var average = new Vector<float>(MathF.Sqrt(sums[b] / n));
            var xs = x.Slice(b * n, n);
            var ws = weights.Slice(b * n, n);
            int i = 0;
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                (average + Vector.Abs(new Vector<float>(xs[i..]))).CopyTo(ws[i..]);
            }

            for (; i < n; ++i) ws[i] = average[0] + MathF.Abs(xs[i]);
        }
    }

    /// <summary>The final levels of a sub-block: clamp(nearest_int((x + dm) / ds), 0, nmax), lane-wise exact.</summary>
    public static void Requantize(ReadOnlySpan<float> x, float dm, float ds, int nmax, Span<byte> levels)
    {
        int lanes = Vector<float>.Count;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var offset = new Vector<float>(dm);
            var step = new Vector<float>(ds);
            Span<int> lane = stackalloc int[lanes];
            for (; i + lanes <= x.Length; i += lanes)
            {
                QuantMath.Levels((new Vector<float>(x[i..]) + offset) / step, nmax).CopyTo(lane);
                for (int k = 0; k < lanes; ++k) levels[i + k] = (byte)lane[k];
            }
        }

        for (; i < x.Length; ++i)
        {
            int l = QuantMath.NearestInt((x[i] + dm) / ds);
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
        }
    }

    private static void Search(int n, int nmax, ReadOnlySpan<Vector<float>> x, ReadOnlySpan<Vector<float>> w, Span<Vector<int>> best,
        Span<Vector<float>> trial, float rmin, float rdelta, int nstep, bool useMad,
        out Vector<float> scale, out Vector<float> min, out Vector<int> degenerate)
    {
        min = x[0];
        var max = x[0];
        var sumW = w[0];
        var sumX = sumW * x[0];
        for (int i = 1; i < n; ++i)
        {
            min = Vector.ConditionalSelect(Vector.LessThan(x[i], min), x[i], min);
            max = Vector.ConditionalSelect(Vector.GreaterThan(x[i], max), x[i], max);
            sumW += w[i];
            sumX += w[i] * x[i];
        }

        min = Vector.ConditionalSelect(Vector.GreaterThan(min, Vector<float>.Zero), Vector<float>.Zero, min);
        degenerate = Vector.LessThanOrEqual(max, min);

        var iscale = new Vector<float>(nmax) / (max - min);
        scale = Vector<float>.One / iscale;
        var bestError = Vector<float>.Zero;
        for (int i = 0; i < n; ++i)
        {
            var l = QuantMath.Levels(iscale * (x[i] - min), nmax);
            best[i] = l;
            bestError += w[i] * Distance(scale * Vector.ConvertToSingle(l) + min - x[i], useMad);
        }

        if (nstep < 1)
        {
            return;
        }

        for (int step = 0; step <= nstep; ++step)
        {
            iscale = new Vector<float>(rmin + rdelta * step + nmax) / (max - min);
            var sumL = Vector<float>.Zero;
            var sumL2 = Vector<float>.Zero;
            var sumXL = Vector<float>.Zero;
            for (int i = 0; i < n; ++i)
            {
                var l = Vector.ConvertToSingle(QuantMath.Levels(iscale * (x[i] - min), nmax));
                trial[i] = l;
                var wl = w[i] * l;
                sumL += wl;
                sumL2 += wl * l;
                sumXL += wl * x[i];
            }

            var det = sumW * sumL2 - sumL * sumL;
            var thisScale = (sumW * sumXL - sumX * sumL) / det;
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            var positive = Vector.GreaterThan(thisMin, Vector<float>.Zero);
            thisMin = Vector.ConditionalSelect(positive, Vector<float>.Zero, thisMin);
            thisScale = Vector.ConditionalSelect(positive, sumXL / sumL2, thisScale);

            var error = Vector<float>.Zero;
            for (int i = 0; i < n; ++i)
            {
                error += w[i] * Distance(thisScale * trial[i] + thisMin - x[i], useMad);
            }

            // Lanes whose sub-block is degenerate (max <= min) never searched in the scalar code.
            var take = Vector.AndNot(Vector.GreaterThan(det, Vector<float>.Zero) & Vector.LessThan(error, bestError), degenerate);
            if (take == Vector<int>.Zero)
            {
                continue;
            }

            for (int i = 0; i < n; ++i)
            {
                best[i] = Vector.ConditionalSelect(take, Vector.ConvertToInt32(trial[i]), best[i]);
            }

            bestError = Vector.ConditionalSelect(take, error, bestError);
            scale = Vector.ConditionalSelect(take, thisScale, scale);
            min = Vector.ConditionalSelect(take, thisMin, min);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Distance(Vector<float> diff, bool useMad) => useMad ? Vector.Abs(diff) : diff * diff;
}
