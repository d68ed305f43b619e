using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// F32's DotTile (four weight rows against four activation rows, the float matrix-matrix product's inner kernel) and
/// OuterTile (C += A times B, four rows at a time, attention's inner kernel) at every width, against float64 sums.
/// </summary>
public sealed class FloatTileTests
{
    // Float sums of up to 257 products of values in [-1, 1), against the float64 sum: bound relative to sum |a b|.
    private const double FloatSumTolerance = 1e-5;

    public static TheoryData<string, long> WidthsAndCounts()
    {
        var data = new TheoryData<string, long>();
        foreach (var width in KernelWidth.All)
        foreach (var count in new long[] { 1, 15, 16, 17, 64, 100, 257 })
        {
            data.Add(width.ToString(), count);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WidthsAndCounts))]
    public unsafe void DotTile_gives_sixteen_dot_products(string widthName, long count)
    {
        var tile = F32Kernels.DotTileAt(Enum.Parse<VectorWidth>(widthName));
        const long WeightStride = 300, ActivationStride = 310, ResultStride = 7;
        var weights = RandomFloats(4 * WeightStride, seed: 1);
        var activations = RandomFloats(4 * ActivationStride, seed: 2);
        var results = new float[4 * ResultStride];
        fixed (float* w = weights)
        fixed (float* a = activations)
        fixed (float* y = results)
        {
            tile(count, w, WeightStride, a, ActivationStride, y, ResultStride);
        }

        for (var act = 0; act < 4; act++)
        for (var row = 0; row < 4; row++)
        {
            double expected = 0, magnitude = 0;
            for (var i = 0; i < count; i++)
            {
                var product = (double)weights[(row * WeightStride) + i] * activations[(act * ActivationStride) + i];
                expected += product;
                magnitude += Math.Abs(product);
            }

            var actual = results[(act * ResultStride) + row];
            Assert.True(Math.Abs(actual - expected) <= (FloatSumTolerance * magnitude) + 1e-7, $"row {row}, activation {act}: {actual} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(WidthsAndCounts))]
    public unsafe void DotTile_results_do_not_depend_on_their_place_in_the_tile(string widthName, long count)
    {
        // Matrix products rely on this: a result is the same bits whichever tile (and thread) computed it.
        var tile = F32Kernels.DotTileAt(Enum.Parse<VectorWidth>(widthName));
        var weights = RandomFloats(4 * count, seed: 3);
        var activations = RandomFloats(4 * count, seed: 4);
        var reversed = new float[4 * count];
        for (var r = 0; r < 4; r++)
        {
            Array.Copy(weights, (3 - r) * count, reversed, r * count, count);
        }

        var straight = new float[16];
        var flipped = new float[16];
        fixed (float* w = weights)
        fixed (float* wr = reversed)
        fixed (float* a = activations)
        fixed (float* y = straight)
        fixed (float* yr = flipped)
        {
            tile(count, w, count, a, count, y, 4);
            tile(count, wr, count, a, count, yr, 4);
        }

        for (var act = 0; act < 4; act++)
        for (var row = 0; row < 4; row++)
        {
            Assert.Equal(straight[(act * 4) + row], flipped[(act * 4) + 3 - row]);
        }
    }

    [Theory]
    [MemberData(nameof(WidthsAndCounts))]
    public unsafe void OuterTile_adds_four_rows_of_A_times_B(string widthName, long count)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var outer = F32Kernels.OuterTileAt(width);
        var columns = F32Kernels.OuterTileColumnsAt(width);
        long aStride = count + 3, bStride = columns + 5, cStride = columns + 9;
        var a = RandomFloats(4 * aStride, seed: 5);
        var b = RandomFloats(count * bStride, seed: 6);
        var c = RandomFloats(4 * cStride, seed: 7);
        var before = (float[])c.Clone();
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            outer(count, pa, aStride, pb, bStride, pc, cStride);
        }

        for (var r = 0; r < 4; r++)
        for (var j = 0; j < cStride; j++)
        {
            var actual = c[(r * cStride) + j];
            if (j >= columns)
            {
                Assert.Equal(before[(r * cStride) + j], actual); // past the kernel's columns nothing is written
                continue;
            }

            double expected = before[(r * cStride) + j], magnitude = Math.Abs(expected);
            for (var i = 0; i < count; i++)
            {
                var product = (double)a[(r * aStride) + i] * b[(i * bStride) + j];
                expected += product;
                magnitude += Math.Abs(product);
            }

            Assert.True(Math.Abs(actual - expected) <= (FloatSumTolerance * magnitude) + 1e-7, $"row {r}, column {j}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void OuterTile_columns_divide_an_attention_tile()
    {
        // Attention pads head rows to 64 and walks tiles of 64 keys in OuterTile column blocks.
        foreach (var width in KernelWidth.All)
        {
            Assert.Equal(0, 64 % F32Kernels.OuterTileColumnsAt(width));
        }
    }

    private static float[] RandomFloats(long count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
