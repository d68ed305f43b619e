namespace QuantPS.Quantization.Types;

/// <summary>
/// One i-quant lattice as ggml's quantizer uses it (iq2xs_init_impl / iq3xs_init_impl): the points
/// as odd coordinates 2l+1, a map from a vector of levels to its point's index, and for every level
/// vector that is not a point the list of points to try instead (those at the nearest few distances).
/// </summary>
/// <remarks>
/// Built once per lattice on first use (<see cref="Lazy{T}"/>, thread-safe). The cost is the neighbour
/// lists: for each level vector off the lattice, the squared distance to every point. ggml does this for
/// every index below its map size; we do it only for the vectors a quantizer can look up (levels
/// clamped to 0..2 on the 2-bit lattices: 3^8 = 6,561 of 43,692 indices; all 8^4 = 4,096 on the 3-bit
/// ones), which gives the same lists for those. Worst case IQ1's 2,048 points: about 6,300 × 2,048
/// distances of 8 coordinates. Measured on a shared, heavily loaded 2-core machine: 0.07 s (IQ3_S) to
/// 0.35–0.56 s (IQ1) per lattice, once per process; llama-quantize's full version of the same setup
/// took about 1 s (IQ2_XXS) to 15–20 s (IQ1) there. The lists hold 23 K (IQ3_XXS) to 332 K (IQ1)
/// ushort entries, at most about 650 KB.
/// </remarks>
internal sealed class IQuantGrid
{
    private static readonly Lazy<IQuantGrid> Iq2XxsGrid = new(() => new IQuantGrid(IQuantGridTables.TwoBit256, 8, 2, 2));
    private static readonly Lazy<IQuantGrid> Iq2XsGrid = new(() => new IQuantGrid(IQuantGridTables.TwoBit512, 8, 2, 2));
    private static readonly Lazy<IQuantGrid> Iq2SGrid = new(() => new IQuantGrid(IQuantGridTables.TwoBit1024, 8, 2, 1));
    private static readonly Lazy<IQuantGrid> Iq1Grid = new(() => new IQuantGrid(IQuantGridTables.OneBit2048, 8, 2, 3));
    private static readonly Lazy<IQuantGrid> Iq3XxsGrid = new(() => new IQuantGrid(IQuantGridTables.ThreeBit256, 4, 3, 2));
    private static readonly Lazy<IQuantGrid> Iq3SGrid = new(() => new IQuantGrid(IQuantGridTables.ThreeBit512, 4, 3, 3));

    private readonly sbyte[] _points;     // Count × Dimension odd coordinates 2l+1
    private readonly int[] _map;          // level vector → point index (≥ 0), or −(offset + 1) into _neighbours
    private readonly ushort[] _neighbours; // at offset: count, then that many point indices

    // The "nwant" of ggml: how many distinct nearest distances a neighbour list spans.
    private IQuantGrid(ReadOnlySpan<ushort> table, int dimension, int bits, int distances)
    {
        Dimension = dimension;
        Bits = bits;
        Count = table.Length;
        int mask = (1 << bits) - 1;
        MaxLevel = bits == 2 ? 2 : 7;
        _points = new sbyte[Count * dimension];
        _map = new int[1 << (bits * dimension)];
        Array.Fill(_map, int.MinValue); // never looked up (a level above MaxLevel)
        for (int j = 0; j < Count; j++)
        {
            for (int k = 0; k < dimension; k++)
            {
                int level = (table[j] >> (bits * k)) & mask;
                if (level > MaxLevel) throw new InvalidOperationException($"Grid point {j} has level {level} > {MaxLevel}.");
                _points[j * dimension + k] = (sbyte)(2 * level + 1);
            }

            _map[table[j]] = j;
        }

        _neighbours = BuildNeighbours(distances);
    }

    public static IQuantGrid Iq2Xxs => Iq2XxsGrid.Value;

    public static IQuantGrid Iq2Xs => Iq2XsGrid.Value;

    public static IQuantGrid Iq2S => Iq2SGrid.Value;

    /// <summary>Shared by IQ1_S and IQ1_M (the same lattice and neighbour depth in ggml).</summary>
    public static IQuantGrid Iq1 => Iq1Grid.Value;

    public static IQuantGrid Iq3Xxs => Iq3XxsGrid.Value;

    public static IQuantGrid Iq3S => Iq3SGrid.Value;

    /// <summary>Coordinates per point (8 or 4).</summary>
    public int Dimension { get; }

    /// <summary>Bits per level in an index (2 or 3).</summary>
    public int Bits { get; }

    /// <summary>Number of points.</summary>
    public int Count { get; }

    /// <summary>The highest level a coordinate takes (2 or 7).</summary>
    public int MaxLevel { get; }

    /// <summary>The odd coordinates (2l+1) of point <paramref name="index"/>.</summary>
    public ReadOnlySpan<sbyte> Point(int index) => _points.AsSpan(index * Dimension, Dimension);

    /// <summary>The point index of a level vector, or −1 when it is not a point.</summary>
    public int IndexOf(int levels)
    {
        int m = _map[levels];
        return m >= 0 ? m : -1;
    }

    /// <summary>The points to try for a level vector that is not a point, nearest first (ties by index).</summary>
    public ReadOnlySpan<ushort> NeighboursOf(int levels)
    {
        int m = _map[levels];
        if (m >= 0 || m == int.MinValue) throw new ArgumentOutOfRangeException(nameof(levels), $"{levels} has no neighbour list.");
        int offset = -m - 1;
        return _neighbours.AsSpan(offset + 1, _neighbours[offset]);
    }

    /// <summary>Writes the levels (l, not 2l+1) of point <paramref name="index"/> to <paramref name="levels"/>.</summary>
    public void LevelsOf(int index, Span<sbyte> levels)
    {
        var p = Point(index);
        for (int i = 0; i < Dimension; i++) levels[i] = (sbyte)((p[i] - 1) / 2);
    }

    // For each level vector off the lattice (all levels ≤ MaxLevel), every point whose squared distance
    // is among the `distances` smallest distinct ones, ordered by (distance, index) as ggml's sort does.
    private ushort[] BuildNeighbours(int distances)
    {
        var lists = new List<ushort>();
        Span<int> d2 = new int[Count];
        Span<int> pos = stackalloc int[Dimension];
        Span<int> nearest = stackalloc int[distances];
        int levelsPerCoordinate = MaxLevel + 1;
        int combinations = 1;
        for (int k = 0; k < Dimension; k++) combinations *= levelsPerCoordinate;
        for (int c = 0; c < combinations; c++)
        {
            int index = 0;
            for (int k = 0, rest = c; k < Dimension; k++, rest /= levelsPerCoordinate)
            {
                int level = rest % levelsPerCoordinate;
                pos[k] = 2 * level + 1;
                index |= level << (Bits * k);
            }

            if (_map[index] >= 0) continue;

            int found = 0;
            for (int j = 0; j < Count; j++)
            {
                int d = 0;
                for (int k = 0; k < Dimension; k++)
                {
                    int diff = _points[j * Dimension + k] - pos[k];
                    d += diff * diff;
                }

                d2[j] = d;
                found = InsertDistinct(nearest, found, d);
            }

            _map[index] = -(lists.Count + 1);
            int countAt = lists.Count;
            lists.Add(0);
            for (int t = 0; t < found; t++)
            {
                for (int j = 0; j < Count; j++)
                {
                    if (d2[j] == nearest[t]) lists.Add((ushort)j);
                }
            }

            lists[countAt] = (ushort)(lists.Count - countAt - 1);
        }

        return lists.ToArray();
    }

    // Keeps `sorted[..count]` the smallest distinct values seen, ascending; returns the new count.
    private static int InsertDistinct(Span<int> sorted, int count, int value)
    {
        int at = 0;
        while (at < count && sorted[at] < value) at++;
        if (at < count && sorted[at] == value) return count;
        if (at == sorted.Length) return count;
        int last = Math.Min(count, sorted.Length - 1);
        for (int i = last; i > at; i--) sorted[i] = sorted[i - 1];
        sorted[at] = value;
        return Math.Min(count + 1, sorted.Length);
    }
}
