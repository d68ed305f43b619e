using BenchmarkDotNet.Attributes;
using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Benchmarks;

/// <summary>Shared set-up: synthetic weights of one type and shape, activations, output and a workspace.</summary>
[Config(typeof(QuickConfig))]
public abstract unsafe class MatMulBenchmarkBase : IWorkload
{
    protected byte* Weights;
    protected float* X;
    protected float* Y;
    protected MatMulWorkspace? Workspace;

    public static IEnumerable<GgmlType> Types() => BenchmarkTypes.Supported();

    [ParamsSource(nameof(Types))]
    public GgmlType Type { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    protected abstract string ShapeText { get; }

    protected abstract long Batch { get; }

    protected long N => BenchmarkTypes.ParseShape(ShapeText).Rows;

    protected long K => BenchmarkTypes.ParseShape(ShapeText).Columns;

    // Weight bytes: the figure of merit for one token; a batch is judged by GFLOP/s instead.
    public double BytesPerOperation => Batch == 1 ? GgmlTypeTraits.Get(Type).RowSizeBytes(K) * N : 0;

    public double FlopsPerOperation => 2.0 * N * K * Batch;

    [GlobalSetup]
    public void Setup()
    {
        Weights = SyntheticWeights.Create(GgmlTypeTraits.Get(Type), K, N, seed: 1);
        X = SyntheticWeights.Activations(K * Batch, seed: 2);
        Y = SyntheticWeights.Allocate<float>(N * Batch);
        Workspace = new MatMulWorkspace(Threads);
        Workspace.Reserve(Type, K, Batch);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Workspace?.Dispose();
        SyntheticWeights.Free(Weights);
        SyntheticWeights.Free(X);
        SyntheticWeights.Free(Y);
    }
}

/// <summary>One token: weights streamed once, so GB/s against the machine's read bandwidth is the figure of merit.</summary>
[Config(typeof(QuickConfig))]
public unsafe class MatVecBenchmarks : MatMulBenchmarkBase
{
    [Params("4096x4096", "4096x14336")]
    public string Shape { get; set; } = "4096x4096";

    protected override string ShapeText => Shape;

    protected override long Batch => 1;

    [Benchmark]
    public void MatVec() => MatMulDriver.MultiplyVector(Type, Weights, K, N, X, Y, Workspace!);
}

/// <summary>A prompt batch against llama.cpp's perf shape (m=4096, k=14336): GFLOP/s is the figure of merit.</summary>
[Config(typeof(QuickConfig))]
[WarmupCount(1)]
[IterationCount(4)] // an operation takes up to seconds and varies little
public unsafe class MatMatBenchmarks : MatMulBenchmarkBase
{
    [Params(64, 512)]
    public int BatchSize { get; set; } = 64;

    protected override string ShapeText => "4096x14336";

    protected override long Batch => BatchSize;

    [Benchmark]
    public void MatMat() => MatMulDriver.Multiply(Type, Weights, K, N, X, Batch, Y, Workspace!);
}

/// <summary>Dequantize a 4096x14336 matrix row by row into a per-thread row buffer that stays in L2.</summary>
[Config(typeof(QuickConfig))]
public unsafe class DequantizeBenchmarks : IWorkload
{
    private const long Rows = 4096, Columns = 14336;
    private byte* _weights;
    private float* _rows;
    private long _rowBytes;

    public static IEnumerable<GgmlType> Types() => BenchmarkTypes.Supported();

    [ParamsSource(nameof(Types))]
    public GgmlType Type { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    public double BytesPerOperation => GgmlTypeTraits.Get(Type).RowSizeBytes(Columns) * Rows;

    public double FlopsPerOperation => 0;

    [GlobalSetup]
    public void Setup()
    {
        var info = GgmlTypeTraits.Get(Type);
        _rowBytes = info.RowSizeBytes(Columns);
        _weights = SyntheticWeights.Create(info, Columns, Rows, seed: 1);
        _rows = SyntheticWeights.Allocate<float>(Columns * Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        SyntheticWeights.Free(_weights);
        SyntheticWeights.Free(_rows);
    }

    [Benchmark]
    public void Dequantize()
    {
        var dequantize = GgmlTypeTraits.Get(Type).Dequantize!;
        BenchmarkTypes.Split(Threads, Rows, (thread, first, end) =>
        {
            var destination = _rows + thread * Columns;
            for (var row = first; row < end; row++)
            {
                dequantize(_weights + row * _rowBytes, destination, Columns);
            }
        });
    }
}
