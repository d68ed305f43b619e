using QuantPS.Quantization.Types;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>
/// The lattices derived from ggml's kgrid tables, checked against a direct reading of
/// iq2xs_init_impl / iq3xs_init_impl: every distance sorted by (distance, index), cut after the
/// wanted number of distinct distances.
/// </summary>
public class IQuantGridTests
{
    public static TheoryData<string, int, int, int, int> Lattices() => new()
    {
        // name, points, dimension, bits, distinct distances per neighbour list (ggml's nwant)
        { "Iq2Xxs", 256, 8, 2, 2 },
        { "Iq2Xs", 512, 8, 2, 2 },
        { "Iq2S", 1024, 8, 2, 1 },
        { "Iq1", 2048, 8, 2, 3 },
        { "Iq3Xxs", 256, 4, 3, 2 },
        { "Iq3S", 512, 4, 3, 3 },
    };

    [Theory]
    [MemberData(nameof(Lattices))]
    public void PointsMapAndNeighboursFollowGgml(string name, int count, int dimension, int bits, int distances)
    {
        var grid = Get(name);
        Assert.Equal((count, dimension, bits), (grid.Count, grid.Dimension, grid.Bits));
        int maxLevel = bits == 2 ? 2 : 7;

        // Every point maps back to its own index, and its coordinates are odd 1..2*maxLevel+1.
        for (int j = 0; j < count; j++)
        {
            var p = grid.Point(j);
            int u = 0;
            for (int k = 0; k < dimension; k++)
            {
                Assert.True(p[k] % 2 == 1 && p[k] >= 1 && p[k] <= 2 * maxLevel + 1);
                u |= ((p[k] - 1) / 2) << (bits * k);
            }

            Assert.Equal(j, grid.IndexOf(u));
        }

        // Every reachable level vector off the lattice: the list equals the brute-force one. Sampled
        // with a fixed stride to keep the test quick (all 4,096 on the 3-bit lattices).
        int combinations = (int)Math.Pow(maxLevel + 1, dimension);
        int stride = dimension == 4 ? 1 : 7;
        int checkedLists = 0;
        for (int c = 0; c < combinations; c += stride)
        {
            int u = 0;
            var pos = new int[dimension];
            for (int k = 0, rest = c; k < dimension; k++, rest /= maxLevel + 1)
            {
                pos[k] = 2 * (rest % (maxLevel + 1)) + 1;
                u |= (rest % (maxLevel + 1)) << (bits * k);
            }

            if (grid.IndexOf(u) >= 0) continue;
            Assert.Equal(BruteForce(grid, pos, distances), grid.NeighboursOf(u).ToArray());
            checkedLists++;
        }

        Assert.True(checkedLists > 100);
    }

    [Fact]
    public void ALatticeIsBuiltOnceForAllThreads()
    {
        var seen = new IQuantGrid[8];
        Parallel.For(0, seen.Length, i => seen[i] = IQuantGrid.Iq2Xs);
        Assert.All(seen, g => Assert.Same(seen[0], g));
    }

    private static ushort[] BruteForce(IQuantGrid grid, int[] pos, int distances)
    {
        var all = Enumerable.Range(0, grid.Count).Select(j =>
        {
            var p = grid.Point(j);
            int d2 = 0;
            for (int k = 0; k < pos.Length; k++) d2 += (p[k] - pos[k]) * (p[k] - pos[k]);
            return (d2, j);
        }).OrderBy(e => e.d2).ThenBy(e => e.j).ToList();
        var wanted = all.Select(e => e.d2).Distinct().Take(distances).ToHashSet();
        return all.Where(e => wanted.Contains(e.d2)).Select(e => (ushort)e.j).ToArray();
    }

    private static IQuantGrid Get(string name) => name switch
    {
        "Iq2Xxs" => IQuantGrid.Iq2Xxs,
        "Iq2Xs" => IQuantGrid.Iq2Xs,
        "Iq2S" => IQuantGrid.Iq2S,
        "Iq1" => IQuantGrid.Iq1,
        "Iq3Xxs" => IQuantGrid.Iq3Xxs,
        _ => IQuantGrid.Iq3S,
    };
}
