using System.Runtime.InteropServices;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// The state behind a <see cref="MatMulWorkspace"/>: activation scratch, the current job and the worker pool.
/// Workers hold this object, not the workspace, so an undisposed workspace can still be finalized.
/// </summary>
internal sealed unsafe partial class MatMulRunner : IDisposable
{
    // Weight-row tiles for matrix-vector aim at this many bytes: big enough that taking a tile (one
    // contended atomic) costs little beside streaming it, small enough to balance threads.
    private const long VectorTileBytes = 128 * 1024;

    // Matrix-matrix tiles: this many weight rows (they stay in L1/L2) against this many activation
    // rows (in L2), so each weight row is read from memory once per activation tile, as in ggml (16 x 16).
    private const long MatrixTileRows = 16;
    private const long MatrixTileActs = 32;

    // Up to this many activation rows the product is treated as matrix-vector: one activation tile.
    private const long VectorMaxActs = 4;

    // Tiles per thread at least, so a late or preempted thread costs little.
    private const long TilesPerThread = 8;

    // Below this many multiply-adds the pool's wake-up costs more than it saves.
    private const long InlineMaxWork = 1L << 16;

    private readonly WorkerPool? _pool;
    private readonly TileRuns? _runs;
    private byte* _scratch;
    private long _scratchBytes;
    private int _busy;

    // The current job, written by the caller before WorkerPool.Run publishes it.
    private MatMulKernels _kernels = null!;
    private byte* _weights;
    private long _weightRowBytes;
    private long _k;
    private long _n;
    private float* _x;
    private long _m;
    private float* _y;
    private byte* _activations;
    private long _activationRowBytes;
    private bool _quantizeInJob;
    private long _rowsPerTile;
    private long _actsPerTile;
    private long _actTiles;
    private long _tileCount;
    private bool _inRuns;
    private Counters _counters;

    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Counters
    {
        [FieldOffset(0)] public long NextTile;
        [FieldOffset(64)] public long NextQuantRow;
        [FieldOffset(128)] public long QuantizedRows;
    }

    public MatMulRunner(int threadCount, TimeSpan spinBeforeSleep)
    {
        ThreadCount = threadCount;
        if (threadCount > 1)
        {
            _pool = new WorkerPool(threadCount, Work, spinBeforeSleep);
            _runs = new TileRuns(threadCount);
        }
    }

    public int ThreadCount { get; }

    public bool IsDisposed { get; private set; }

    public long ScratchBytes => _scratchBytes;

    public void EnsureScratch(long bytes)
    {
        if (bytes <= _scratchBytes)
        {
            return;
        }

        // Grow to the next power of two so a slowly growing batch does not reallocate every call.
        var size = Math.Max(4096, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)bytes));
        NativeMemory.AlignedFree(_scratch);
        _scratch = null;
        _scratchBytes = 0;
        _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)size, 64);
        _scratchBytes = size;
    }

    /// <summary>Y[m, n] = dot(W row n, X row m). Arguments are already validated.</summary>
    public void Run(MatMulKernels kernels, byte* weights, long k, long n, float* x, long m, float* y)
    {
        Enter("a multiplication");

        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, typeof(MatMulWorkspace));
            Prepare(kernels, weights, k, n, x, m, y);
            if (_pool is null || (double)n * m * k <= InlineMaxWork)
            {
                RunInline();
            }
            else
            {
                if (!_quantizeInJob)
                {
                    QuantizeRows(0, _m, worker: 0); // one or a few rows: cheaper here than behind a barrier
                }

                _pool.Run();
            }
        }
        finally
        {
            _kernels = null!;
            Volatile.Write(ref _busy, 0);
        }
    }

    // One job at a time per workspace: a second caller (another thread) is told so instead of corrupting the first.
    // The job's finally block clears _busy.
    private void Enter(string job)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException($"This MatMulWorkspace is already running {job}; give each thread its own workspace.");
        }
    }

    private void Prepare(MatMulKernels kernels, byte* weights, long k, long n, float* x, long m, float* y)
    {
        _kernels = kernels;
        _weights = weights;
        _weightRowBytes = kernels.Weight.RowSizeBytes(k);
        _k = k;
        _n = n;
        _x = x;
        _m = m;
        _y = y;
        _counters.NextTile = 0;
        _counters.NextQuantRow = 0;
        _counters.QuantizedRows = 0;
        _scaled = false;
        _inRuns = false;
        _floatTiles = m > VectorMaxActs && UsesFloatTiles(kernels);
        if (_floatTiles)
        {
            PrepareFloatTiles();
            DealRuns(floatTiles: true);
            return;
        }

        _panelKind = m > VectorMaxActs ? kernels.Panels : PanelKind.None;
        if (UsingPanels)
        {
            PrepareIntegerPanels();
            return;
        }

        _scaled = m <= VectorMaxActs && kernels.ScaledDot is not null;
        _prepared = m <= VectorMaxActs && kernels.PreparedDot is not null;
        PlaceActivations(kernels, k, x, m);

        var threads = (long)ThreadCount;
        _quantizeInJob = kernels.Quantize is not null && m > VectorMaxActs;
        if (m <= VectorMaxActs)
        {
            _actsPerTile = m;
            _rowsPerTile = Math.Max(1, VectorTileBytes / _weightRowBytes);
            if (_rowsPerTile >= 16)
            {
                _rowsPerTile &= ~15L; // whole cache lines of Y per tile: no false sharing between threads
            }
        }
        else
        {
            _actsPerTile = MatrixTileActs;
            _rowsPerTile = MatrixTileRows;
        }

        _actTiles = (m + _actsPerTile - 1) / _actsPerTile;
        var wanted = threads * TilesPerThread;
        if (threads > 1 && _actTiles * ((n + _rowsPerTile - 1) / _rowsPerTile) < wanted)
        {
            var rowTiles = (wanted + _actTiles - 1) / _actTiles;
            _rowsPerTile = Math.Max(1, (n + rowTiles - 1) / rowTiles);
        }

        _tileCount = _actTiles * ((n + _rowsPerTile - 1) / _rowsPerTile);

        DealRuns(floatTiles: false);
    }

    // Where the activation rows of a job that is neither float tiles nor panels go: scaled floats or prepared rows
    // (matrix-vector dots that have them, per _scaled / _prepared), the floats themselves (float weights), or
    // quantized rows in the scratch.
    private void PlaceActivations(MatMulKernels kernels, long k, float* x, long rows)
    {
        if (_scaled)
        {
            _activationRowBytes = k * sizeof(float);
            EnsureScratch(ScaledScratchBytes(k, rows));
            _activations = _scratch;
        }
        else if (_prepared)
        {
            _activationRowBytes = PreparedRowBytes(kernels, k);
            EnsureScratch(PreparedScratchBytes(kernels, k, rows));
            _activations = _scratch;
        }
        else if (kernels.Quantize is null)
        {
            _activations = (byte*)x;
            _activationRowBytes = k * sizeof(float);
        }
        else
        {
            _activationRowBytes = kernels.Activation.RowSizeBytes(k);
            EnsureScratch(_activationRowBytes * rows);
            _activations = _scratch;
        }
    }

    // Matrix-vector tiles go out as one contiguous run of weight rows per thread (see TileRuns); so do float tiles,
    // whose thread can then fetch its next tile's weights while it works on this one (RunFloatSlice).
    private void DealRuns(bool floatTiles)
    {
        _inRuns = (floatTiles || _m <= VectorMaxActs) && _runs is not null;
        if (_inRuns)
        {
            _runs!.Reset(_tileCount);
        }
    }

    private void RunInline()
    {
        QuantizeRows(0, _m, worker: 0);
        for (long tile = 0; tile < _tileCount; tile++)
        {
            RunTile(tile, worker: 0);
        }
    }

    private void QuantizeRows(long first, long end, int worker)
    {
        if (_floatTiles)
        {
            PrepareFloatRows(first, end, worker);
            return;
        }

        if (UsingPanels)
        {
            PreparePanelRows(first, end, worker);
            return;
        }

        if (_scaled)
        {
            PrepareScaledRows(first, end);
            return;
        }

        if (_prepared)
        {
            PreparePreparedRows(first, end);
            return;
        }

        var quantize = _kernels.Quantize;
        if (quantize is null)
        {
            return;
        }

        for (var row = first; row < end; row++)
        {
            quantize(_x + row * _k, _activations + row * _activationRowBytes, _k);
        }
    }

    // The body every pool thread runs for one job.
    private void Work(int worker)
    {
        if (RunChunkJob())
        {
            return;
        }

        if (_quantizeInJob)
        {
            long row;
            while ((row = Interlocked.Increment(ref _counters.NextQuantRow) - 1) < _m)
            {
                try
                {
                    QuantizeRows(row, row + 1, worker);
                }
                finally
                {
                    Interlocked.Increment(ref _counters.QuantizedRows); // even on failure, or the others wait forever
                }
            }

            var spinner = default(PatientSpinner);
            while (Volatile.Read(ref _counters.QuantizedRows) < _m)
            {
                spinner.SpinOnce();
            }
        }

        long tile;
        if (_inRuns)
        {
            while ((tile = _runs!.Take(worker)) >= 0)
            {
                RunTile(tile, worker);
            }

            return;
        }

        while ((tile = Interlocked.Increment(ref _counters.NextTile) - 1) < _tileCount)
        {
            RunTile(tile, worker);
        }
    }

    // Weight tiles are the slow index, so threads taking consecutive tiles share the weight rows in cache.
    private void RunTile(long tile, int worker)
    {
        if (_groupCount > 0)
        {
            RunGroupedTile(tile);
            return;
        }

        if (_floatTiles)
        {
            RunFloatTile(tile, worker);
            return;
        }

        if (UsingPanels)
        {
            RunPanelTile(tile, worker);
            return;
        }

        var rowTile = tile / _actTiles;
        var actTile = tile - rowTile * _actTiles;
        var row0 = rowTile * _rowsPerTile;
        var rowEnd = Math.Min(row0 + _rowsPerTile, _n);
        var act0 = actTile * _actsPerTile;
        var actEnd = Math.Min(act0 + _actsPerTile, _m);

        var dot = _scaled ? _kernels.ScaledDot! : _prepared ? _kernels.PreparedDot! : _kernels.Dot;
        var k = _k;
        var n = _n;
        var weightRowBytes = _weightRowBytes;
        var firstRow = _weights + row0 * weightRowBytes;
        var a = act0;
        // Four activation rows at a time: the kernel decodes each weight block once for all four.
        var dot4 = _kernels.Dot4;
        var four = stackalloc float[4];
        for (; a + 4 <= actEnd && !_scaled && !_prepared; a += 4)
        {
            var activation = _activations + a * _activationRowBytes;
            var y = _y + a * n;
            var w = firstRow;
            for (var row = row0; row < rowEnd; row++, w += weightRowBytes)
            {
                dot4(k, w, activation, _activationRowBytes, four);
                y[row] = four[0];
                y[n + row] = four[1];
                y[(2 * n) + row] = four[2];
                y[(3 * n) + row] = four[3];
            }
        }

        var entries = _kernels.DotEntries;
        var entry = (delegate*<long, byte*, byte*, float>)(_scaled ? entries.Scaled : _prepared ? entries.Prepared : entries.Dot);
        for (; a < actEnd; a++)
        {
            var activation = _activations + a * _activationRowBytes;
            var y = _y + a * n;
            var w = firstRow;
            if (entry is not null)
            {
                for (var row = row0; row < rowEnd; row++, w += weightRowBytes)
                {
                    y[row] = entry(k, w, activation);
                }

                continue;
            }

            for (var row = row0; row < rowEnd; row++, w += weightRowBytes)
            {
                y[row] = dot(k, w, activation);
            }
        }
    }

    public void Dispose()
    {
        if (IsDisposed)
        {
            return;
        }

        IsDisposed = true;
        _pool?.Dispose();
        NativeMemory.AlignedFree(_scratch);
        _scratch = null;
        _scratchBytes = 0;
    }
}
