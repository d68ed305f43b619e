using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;
using Xunit;
using static QuantPS.Tests.Kernels.MatMul.MatMulTestData;

namespace QuantPS.Tests.Kernels.MatMul;

/// <summary>The matmul driver against a float64 oracle, across shapes, thread counts and every type with kernels.</summary>
public sealed unsafe class MatMulDriverTests
{
    /// <summary>
    /// |y - oracle| allowed, as a fraction of sum |w·x|: the kernels accumulate in float, in another order than the
    /// double oracle (a few hundred products: ~1e-5 typical).
    /// </summary>
    private const double FloatAccumulationTolerance = 1e-4;

    /// <summary>
    /// Q8_1 stores s = d·sum(q) as f16 (ggml's block_q8_1) and the Q4_1/Q5_1 dots use it for the min term,
    /// while the oracle uses the exact quants: up to 2^-11 of the magnitude more.
    /// </summary>
    private const double Q8_1SumTolerance = 1e-3;

    public static TheoryData<GgmlType> Types() => new(WeightTypes().Where(MatMulDriver.IsSupported));

    /// <summary>Every weight type has a dot kernel, and the driver multiplies every one of them.</summary>
    [Fact]
    public void The_driver_supports_every_weight_type()
    {
        Assert.All(WeightTypes(), type => Assert.True(GgmlTypeTraits.Get(type).HasKernels, type + " has no kernels"));
        Assert.Equal(WeightTypes(), WeightTypes().Where(MatMulDriver.IsSupported));
    }

    public static TheoryData<GgmlType, long, long, long> TypesAndShapes()
    {
        var data = new TheoryData<GgmlType, long, long, long>();
        foreach (var type in WeightTypes().Where(MatMulDriver.IsSupported))
        {
            // m = 1 (a token), 3, 7 (a batch that is not whole tiles of four), 64 (a batch); n odd so tiles and
            // thread chunks never divide it.
            data.Add(type, 1, 37, 1);
            data.Add(type, 3, 129, 3);
            data.Add(type, 2, 61, 7);
            data.Add(type, 8, 300, 64);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndShapes))]
    public void Matches_the_float64_reference(GgmlType type, long blocks, long n, long m)
    {
        var info = Supported(type);
        // Whole blocks of both types, and at least 32 values so float types reach their vector loops.
        var k = blocks * Math.Max(32, Math.Max(info.BlockSize, GgmlTypeTraits.Get(info.ActivationType).BlockSize));
        var weights = RandomWeights(info, k, n, seed: 1);
        var x = RandomActivations(k, m, seed: 2);
        var (expected, magnitude) = Reference(info, weights, x, k, n, m);

        using var workspace = new MatMulWorkspace(threadCount: 2);
        var y = Run(type, weights, x, k, n, m, workspace);

        var tolerance = info.ActivationType == GgmlType.Q8_1 ? Q8_1SumTolerance : FloatAccumulationTolerance;
        for (var i = 0; i < y.Length; i++)
        {
            var error = Math.Abs(y[i] - expected[i]);
            Assert.True(error <= tolerance * magnitude[i] + 1e-6,
                $"{type} k={k} n={n} m={m}: y[{i / n}, {i % n}] = {y[i]}, oracle {expected[i]} (|w·x| sum {magnitude[i]}).");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void One_and_two_threads_give_identical_bits(GgmlType type)
    {
        var info = Supported(type);
        const long n = 301, m = 67;
        var k = 4 * Math.Max(256, info.BlockSize);
        var weights = RandomWeights(info, k, n, seed: 3);
        var x = RandomActivations(k, m, seed: 4);

        using var one = new MatMulWorkspace(threadCount: 1);
        using var two = new MatMulWorkspace(threadCount: 2);
        foreach (var rows in new long[] { 1, 3, m })
        {
            var single = Run(type, weights, x, k, n, rows, one);
            var pooled = Run(type, weights, x, k, n, rows, two);
            Assert.Equal(single, pooled);

            // The vector entry point is the same arithmetic.
            if (rows == 1)
            {
                Assert.Equal(single, RunVector(type, weights, x, k, n, two));
            }
        }
    }

    /// <summary>
    /// Float-like weights with rows long enough to be cut into slices (k = 5000: three slices): still the float64
    /// reference, and a batch row's results are the same bits whatever the batch around it or the thread count.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void Long_float_rows_are_summed_in_slices_independent_of_tiling(GgmlType type)
    {
        var info = Supported(type);
        const long k = 5000, n = 37, m = 9;
        var weights = RandomWeights(info, k, n, seed: 7);
        var x = RandomActivations(k, m, seed: 8);
        var (expected, magnitude) = Reference(info, weights, x, k, n, m);

        using var one = new MatMulWorkspace(threadCount: 1);
        using var two = new MatMulWorkspace(threadCount: 2);
        var y = Run(type, weights, x, k, n, m, two);
        for (var i = 0; i < y.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - expected[i]) <= FloatAccumulationTolerance * magnitude[i] + 1e-6,
                $"{type}: y[{i / n}, {i % n}] = {y[i]}, oracle {expected[i]}.");
        }

        Assert.Equal(y, Run(type, weights, x, k, n, m, one));
        var firstSix = Run(type, weights, x, k, n, 6, two);
        Assert.Equal(y.AsSpan(0, (int)(6 * n)).ToArray(), firstSix);
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(64L)]
    public void Calls_after_warm_up_allocate_nothing(long m)
    {
        var type = AnySupported();
        var info = GgmlTypeTraits.Get(type);
        const long n = 256;
        var k = 2 * Math.Max(256, info.BlockSize);
        using var weights = new Native<byte>(RandomWeights(info, k, n, seed: 5));
        using var x = new Native<float>(RandomActivations(k, m, seed: 6));
        using var y = new Native<float>(m * n);
        using var workspace = new MatMulWorkspace(threadCount: 2);

        for (var i = 0; i < 3; i++)
        {
            MatMulDriver.Multiply(type, weights.Pointer, k, n, x.Pointer, m, y.Pointer, workspace);
        }

        // Only this thread's allocations are counted; the workers' are not, but they run the same tile code.
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 20; i++)
        {
            MatMulDriver.Multiply(type, weights.Pointer, k, n, x.Pointer, m, y.Pointer, workspace);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Sleeping_workers_wake_for_the_next_call()
    {
        var type = AnySupported();
        var info = GgmlTypeTraits.Get(type);
        const long n = 512, m = 5;
        var k = 2 * Math.Max(256, info.BlockSize);
        var weights = RandomWeights(info, k, n, seed: 7);
        var x = RandomActivations(k, m, seed: 8);

        using var spinning = new MatMulWorkspace(threadCount: 2);
        using var sleepy = new MatMulWorkspace(threadCount: 2, spinBeforeSleep: TimeSpan.Zero);
        var expected = Run(type, weights, x, k, n, m, spinning);
        for (var i = 0; i < 3; i++)
        {
            Thread.Sleep(20); // the workers are asleep on the monitor by now
            Assert.Equal(expected, Run(type, weights, x, k, n, m, sleepy));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ParallelFor_runs_every_chunk_once_and_rethrows_a_failure(int threads)
    {
        using var workspace = new MatMulWorkspace(threadCount: threads);
        var hits = new int[37];
        workspace.ParallelFor(hits.Length, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));

        var error = Assert.Throws<InvalidOperationException>(() => workspace.ParallelFor(5, i =>
        {
            if (i == 3)
            {
                throw new InvalidOperationException("chunk 3");
            }
        }));
        Assert.Equal("chunk 3", error.Message);

        // The workspace is still usable, for chunks and for products.
        workspace.ParallelFor(2, i => Interlocked.Increment(ref hits[i]));
        Assert.Equal(new[] { 2, 2, 1 }, hits.Take(3));
        var type = AnySupported();
        var info = GgmlTypeTraits.Get(type);
        var k = Math.Max(256, info.BlockSize);
        var weights = RandomWeights(info, k, 8, seed: 3);
        var x = RandomActivations(k, 1, seed: 4);
        Assert.Equal(8, Run(type, weights, x, k, 8, 1, workspace).Length);
    }

    [Fact]
    public void Zero_threads_means_one_per_processor_and_one_thread_runs_inline()
    {
        using var all = new MatMulWorkspace();
        using var single = new MatMulWorkspace(threadCount: 1);

        Assert.Equal(Environment.ProcessorCount, all.ThreadCount);
        Assert.Equal(1, single.ThreadCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MatMulWorkspace(threadCount: -1));
    }

    [Fact]
    public void Rejects_rows_that_are_not_whole_blocks()
    {
        var type = AnySupported(quantizedFirst: true);
        var info = GgmlTypeTraits.Get(type);
        var multiple = Math.Max(info.BlockSize, GgmlTypeTraits.Get(info.ActivationType).BlockSize);
        using var workspace = new MatMulWorkspace(threadCount: 1);
        var buffer = new float[4 * multiple];

        fixed (float* pinned = buffer)
        {
            var p = pinned;
            var bytes = (byte*)p;
            var error = Assert.Throws<ArgumentException>(() => MatMulDriver.Multiply(type, bytes, multiple + 1, 1, p, 1, p, workspace));
            Assert.Equal("k", error.ParamName);
            Assert.Contains(info.Name, error.Message);
            Assert.Throws<ArgumentException>(() => MatMulDriver.Multiply(type, bytes, 0, 1, p, 1, p, workspace));
            Assert.Throws<ArgumentOutOfRangeException>(() => MatMulDriver.Multiply(type, bytes, multiple, -1, p, 1, p, workspace));
            Assert.Throws<ArgumentNullException>(() => MatMulDriver.Multiply(type, null, multiple, 1, p, 1, p, workspace));
            MatMulDriver.Multiply(type, null, multiple, 0, null, 0, null, workspace); // empty product: nothing to touch
        }
    }

    [Fact]
    public void Types_without_kernels_are_refused_with_their_name()
    {
        using var workspace = new MatMulWorkspace(threadCount: 1);
        var error = Assert.Throws<NotSupportedException>(() => MatMulDriver.Multiply(GgmlType.I32, null, 32, 1, null, 1, null, workspace));

        Assert.Contains("I32", error.Message);
        Assert.False(MatMulDriver.IsSupported(GgmlType.I32));
    }

    [Fact]
    public void A_disposed_workspace_is_refused()
    {
        var type = AnySupported();
        var workspace = new MatMulWorkspace(threadCount: 2);
        workspace.Dispose();
        workspace.Dispose(); // twice is harmless
        var buffer = new float[1024];

        fixed (float* p = buffer)
        {
            var pointer = p;
            Assert.Throws<ObjectDisposedException>(() => MatMulDriver.Multiply(type, (byte*)pointer, 256, 1, pointer, 1, pointer, workspace));
        }
    }

    [Fact]
    public void Reserve_allocates_the_scratch_up_front()
    {
        var type = AnySupported(quantizedFirst: true);
        using var workspace = new MatMulWorkspace(threadCount: 1);
        workspace.Reserve(type, 4096, 64);

        var info = GgmlTypeTraits.Get(type);
        if (info.ActivationType != GgmlType.F32)
        {
            Assert.True(workspace.ScratchBytes >= GgmlTypeTraits.Get(info.ActivationType).RowSizeBytes(4096) * 64);
        }
    }

    /// <summary>Theory data holds only types with kernels, so this is a guard, not a skip.</summary>
    private static GgmlTypeInfo Supported(GgmlType type)
    {
        Assert.True(MatMulDriver.IsSupported(type), $"{type} has no matmul kernels.");
        return GgmlTypeTraits.Get(type);
    }

    private static GgmlType AnySupported(bool quantizedFirst = false)
    {
        var supported = WeightTypes().Where(MatMulDriver.IsSupported).ToList();
        Assert.NotEmpty(supported);
        return quantizedFirst ? supported.OrderByDescending(t => GgmlTypeTraits.Get(t).IsQuantized).First() : supported[0];
    }

    private static float[] Run(GgmlType type, byte[] weights, float[] x, long k, long n, long m, MatMulWorkspace workspace)
    {
        using var w = new Native<byte>(weights);
        using var xs = new Native<float>(x.AsSpan(0, (int)(k * m)));
        using var y = new Native<float>(m * n);
        MatMulDriver.Multiply(type, w.Pointer, k, n, xs.Pointer, m, y.Pointer, workspace);
        return y.ToArray();
    }

    private static float[] RunVector(GgmlType type, byte[] weights, float[] x, long k, long n, MatMulWorkspace workspace)
    {
        using var w = new Native<byte>(weights);
        using var xs = new Native<float>(x.AsSpan(0, (int)k));
        using var y = new Native<float>(n);
        MatMulDriver.MultiplyVector(type, w.Pointer, k, n, xs.Pointer, y.Pointer, workspace);
        return y.ToArray();
    }
}
