using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;
using Xunit;
using static QuantPS.Tests.Kernels.MatMul.MatMulTestData;

namespace QuantPS.Tests.Kernels.MatMul;

/// <summary>MatMulDriver.MultiplyVectors (a token's experts as one job) against one Multiply per matrix.</summary>
public sealed unsafe class GroupedMatMulTests
{
    // Five matrices of an odd row count (tiles straddle matrices), used in another order than stored.
    private const int Count = 5;
    private const long Rows = 67;
    private static readonly int[] Order = [3, 0, 4, 1, 2];

    public static TheoryData<GgmlType, bool, int> Cases()
    {
        var data = new TheoryData<GgmlType, bool, int>();
        foreach (var type in WeightTypes().Where(MatMulDriver.IsSupported))
        {
            foreach (var shared in new[] { true, false })
            {
                data.Add(type, shared, 1);
                data.Add(type, shared, 2);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_row_equals_its_own_matrix_vector_product(GgmlType type, bool sharedInput, int threads)
    {
        var info = GgmlTypeTraits.Get(type);
        var k = 2 * Math.Max(256, Math.Max(info.BlockSize, GgmlTypeTraits.Get(info.ActivationType).BlockSize));
        var weights = RandomWeights(info, k, Count * Rows, seed: 5);
        var inputRows = sharedInput ? 1 : Count;
        var x = RandomActivations(k, inputRows, seed: 6);
        var matrixBytes = info.RowSizeBytes(k) * Rows;

        using var workspace = new MatMulWorkspace(threads);
        using var w = new Native<byte>(weights);
        using var xs = new Native<float>(x);
        using var y = new Native<float>(Count * Rows);
        using var single = new Native<float>(Rows);
        var pointers = Order.Select(e => (nint)(w.Pointer + (e * matrixBytes))).ToArray();
        MatMulDriver.MultiplyVectors(type, pointers, k, Rows, xs.Pointer, inputRows, y.Pointer, workspace);

        var grouped = y.ToArray();
        for (var s = 0; s < Count; s++)
        {
            MatMulDriver.MultiplyVector(type, (byte*)pointers[s], k, Rows, xs.Pointer + (sharedInput ? 0 : s * k), single.Pointer, workspace);
            var expected = single.ToArray();
            for (var r = 0; r < Rows; r++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected[r]) == BitConverter.SingleToInt32Bits(grouped[(s * Rows) + r]),
                    $"{type} matrix {s} row {r}: {grouped[(s * Rows) + r]} grouped, {expected[r]} alone");
            }
        }
    }

    public static TheoryData<GgmlType, int> TypesAndThreads()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var type in WeightTypes().Where(MatMulDriver.IsSupported))
        {
            data.Add(type, 1);
            data.Add(type, 2);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndThreads))]
    public void Matrices_of_their_own_sizes_and_outputs_equal_their_own_products(GgmlType type, int threads)
    {
        // A token's Q, K and V: one input, matrices of 67, 13 and 29 rows (odd: tiles straddle them), outputs apart.
        long[] rows = [67, 13, 29];
        var info = GgmlTypeTraits.Get(type);
        var k = 2 * Math.Max(256, Math.Max(info.BlockSize, GgmlTypeTraits.Get(info.ActivationType).BlockSize));
        var rowBytes = info.RowSizeBytes(k);
        var weights = RandomWeights(info, k, rows.Sum(), seed: 9);
        var x = RandomActivations(k, 1, seed: 10);
        using var workspace = new MatMulWorkspace(threads);
        using var w = new Native<byte>(weights);
        using var xs = new Native<float>(x);
        var outputs = rows.Select(n => new Native<float>(n)).ToArray();
        try
        {
            var starts = new long[] { 0, rows[0], rows[0] + rows[1] };
            var pointers = starts.Select(s => (nint)(w.Pointer + (s * rowBytes))).ToArray();
            MatMulDriver.MultiplyVectors(type, pointers, rows, outputs.Select(o => (nint)o.Pointer).ToArray(), k, xs.Pointer, 1, workspace);
            for (var s = 0; s < rows.Length; s++)
            {
                using var alone = new Native<float>(rows[s]);
                MatMulDriver.MultiplyVector(type, (byte*)pointers[s], k, rows[s], xs.Pointer, alone.Pointer, workspace);
                Assert.Equal(alone.ToArray().Select(BitConverter.SingleToInt32Bits), outputs[s].ToArray().Select(BitConverter.SingleToInt32Bits));
            }
        }
        finally
        {
            foreach (var output in outputs)
            {
                output.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.F16)]
    public void A_multiplication_after_a_grouped_job_is_unaffected(GgmlType type)
    {
        // The runner keeps its job in fields: every product after a grouped one must equal a fresh workspace's.
        var info = GgmlTypeTraits.Get(type);
        const long k = 512, n = 61;
        var weights = RandomWeights(info, k, n * Count, seed: 7);
        var x = RandomActivations(k, 40, seed: 8);
        using var w = new Native<byte>(weights);
        using var xs = new Native<float>(x);
        using var grouped = new Native<float>(Count * n);
        var pointers = Enumerable.Range(0, Count).Select(e => (nint)(w.Pointer + (e * info.RowSizeBytes(k) * n))).ToArray();
        using var used = new MatMulWorkspace(2);
        foreach (var m in new long[] { 1, 3, 8, 40 })
        {
            MatMulDriver.MultiplyVectors(type, pointers, k, n, xs.Pointer, Count, grouped.Pointer, used);
            using var afterGrouped = new Native<float>(m * n);
            using var fresh = new Native<float>(m * n);
            MatMulDriver.Multiply(type, w.Pointer, k, n, xs.Pointer, m, afterGrouped.Pointer, used);
            using (var clean = new MatMulWorkspace(2))
            {
                MatMulDriver.Multiply(type, w.Pointer, k, n, xs.Pointer, m, fresh.Pointer, clean);
            }

            Assert.Equal(fresh.ToArray(), afterGrouped.ToArray());
        }
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        using var workspace = new MatMulWorkspace(1);
        using var w = new Native<byte>(new byte[GgmlTypeTraits.Get(GgmlType.F32).RowSizeBytes(32) * 4]);
        using var x = new Native<float>(64);
        using var y = new Native<float>(8);
        nint[] two = [(nint)w.Pointer, (nint)w.Pointer];
        Assert.Throws<ArgumentException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, [], 32, 2, x.Pointer, 1, y.Pointer, workspace));
        Assert.Throws<ArgumentException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, [(nint)w.Pointer, 0], 32, 2, x.Pointer, 1, y.Pointer, workspace));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, two, 32, 2, x.Pointer, 3, y.Pointer, workspace));
        Assert.Throws<ArgumentException>(() => MatMulDriver.MultiplyVectors(GgmlType.Q8_0, two, 31, 2, x.Pointer, 1, y.Pointer, workspace)); // not whole blocks
        Assert.Throws<ArgumentNullException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, two, 32, 2, null, 1, y.Pointer, workspace));
        nint[] outputs = [(nint)y.Pointer, (nint)(y.Pointer + 2)];
        Assert.Throws<ArgumentException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, two, [2L], outputs, 32, x.Pointer, 1, workspace));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, two, [2L, 0L], outputs, 32, x.Pointer, 1, workspace));
        Assert.Throws<ArgumentException>(() => MatMulDriver.MultiplyVectors(GgmlType.F32, two, [2L, 2L], [(nint)y.Pointer, 0], 32, x.Pointer, 1, workspace));
    }
}
