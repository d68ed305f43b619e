using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace QuantPS.Benchmarks;

/// <summary>The ceiling for generation: read a 1 GiB buffer (sum it) on 1 and 2 threads.</summary>
[Config(typeof(QuickConfig))]
public unsafe class MemoryBandwidthBenchmarks : IWorkload
{
    private const long Bytes = 1L << 30;
    private byte* _buffer;

    [Params(1, 2)]
    public int Threads { get; set; }

    public double BytesPerOperation => Bytes;

    public double FlopsPerOperation => 0;

    [GlobalSetup]
    public void Setup()
    {
        _buffer = SyntheticWeights.Allocate<byte>(Bytes); // cleared, so every page is faulted in before timing
    }

    [GlobalCleanup]
    public void Cleanup() => SyntheticWeights.Free(_buffer);

    [Benchmark]
    public ulong ReadSum()
    {
        var sums = new ulong[Threads];
        BenchmarkTypes.Split(Threads, Bytes / 256, (thread, first, end) => sums[thread] = Sum(_buffer + first * 256, end - first));
        return sums.Aggregate((a, b) => a + b);
    }

    // Four independent accumulators of 64 bytes: the loop is bound by memory, not by the adds.
    private static ulong Sum(byte* data, long chunks)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<ulong> a = default, b = default, c = default, d = default;
            for (long i = 0; i < chunks; i++, data += 256)
            {
                a += Vector512.Load((ulong*)data);
                b += Vector512.Load((ulong*)(data + 64));
                c += Vector512.Load((ulong*)(data + 128));
                d += Vector512.Load((ulong*)(data + 192));
            }

            return Vector512.Sum(a + b + c + d);
        }

        Vector256<ulong> e = default, f = default, g = default, h = default;
        for (long i = 0; i < chunks * 2; i++, data += 128)
        {
            e += Vector256.Load((ulong*)data);
            f += Vector256.Load((ulong*)(data + 32));
            g += Vector256.Load((ulong*)(data + 64));
            h += Vector256.Load((ulong*)(data + 96));
        }

        return Vector256.Sum(e + f + g + h);
    }
}

/// <summary>F32 matrix-vector with TensorPrimitives.Dot per row: what plain .NET gets, beside our F32 matmul.</summary>
[Config(typeof(QuickConfig))]
public unsafe class TensorPrimitivesBaselineBenchmarks : IWorkload
{
    private float* _weights;
    private float* _x;
    private float* _y;

    [Params("4096x4096", "4096x14336")]
    public string Shape { get; set; } = "4096x4096";

    [Params(1, 2)]
    public int Threads { get; set; }

    private long N => BenchmarkTypes.ParseShape(Shape).Rows;

    private long K => BenchmarkTypes.ParseShape(Shape).Columns;

    public double BytesPerOperation => 4.0 * N * K;

    public double FlopsPerOperation => 2.0 * N * K;

    [GlobalSetup]
    public void Setup()
    {
        _weights = SyntheticWeights.Activations(N * K, seed: 1);
        _x = SyntheticWeights.Activations(K, seed: 2);
        _y = SyntheticWeights.Allocate<float>(N);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        SyntheticWeights.Free(_weights);
        SyntheticWeights.Free(_x);
        SyntheticWeights.Free(_y);
    }

    [Benchmark]
    public void MatVecF32()
    {
        var k = (int)K;
        BenchmarkTypes.Split(Threads, N, (_, first, end) =>
        {
            var x = new ReadOnlySpan<float>(_x, k);
            for (var row = first; row < end; row++)
            {
                _y[row] = TensorPrimitives.Dot(new ReadOnlySpan<float>(_weights + row * k, k), x);
            }
        });
    }
}
