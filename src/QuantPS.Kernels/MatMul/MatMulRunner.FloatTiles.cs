using QuantPS.Kernels.Generated;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix-matrix products over float-like weights (F32, F16, BF16; their activations are the same type). ggml's
/// arithmetic here is float: each activation is rounded to the activation type, then multiplied and summed in
/// float. Rather than converting both operands inside every dot product, each activation row is rounded once into
/// floats, each thread decodes a tile of weight rows into floats once, and F32's generated DotTile runs four weight
/// rows against four activation rows at a time over the whole batch. F16 weights decode by bit shifts to values worth
/// 2^-112 of theirs against activations carrying 2^112 (MatMulKernels.ScaledTileDecode): the same products.
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    // A decoded weight tile aims at this many bytes, so it stays in L2 while every activation row streams past it.
    private const long FloatTileBytes = 256 * 1024;

    // Rows longer than this are cut into slices of about this many values (the last may be shorter), so a tile still
    // holds enough weight rows (32) to reuse each activation value it loads from L3 many times; the slices' sums are
    // added in order, so a result depends on k alone, never on how the batch or the rows are tiled.
    private const long SliceTarget = 2048;

    // DotTile's shape: this many weight rows against this many activation rows.
    private const int TileSide = 4;

    private bool _floatTiles;
    private float* _floatActivations;
    private byte* _threadScratch;
    private long _threadScratchBytes;
    private long _sliceLength;

    private static bool UsesFloatTiles(MatMulKernels kernels) =>
        kernels.Activation.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 && kernels.Weight.Dequantize is not null;

    /// <summary>Values per slice of a row of <paramref name="k"/>: the whole row up to 1.5 slices, else equal cuts on 64s.</summary>
    internal static long SliceLength(long k)
    {
        if (k <= SliceTarget * 3 / 2)
        {
            return k;
        }

        var slices = (k + SliceTarget - 1) / SliceTarget;
        return RoundUp((k + slices - 1) / slices, 64);
    }

    /// <summary>Scratch bytes the float-tile path needs for <paramref name="m"/> rows of <paramref name="k"/> values.</summary>
    private long FloatTileScratchBytes(long k, long m, long rowsPerTile) =>
        checked((RoundUp(m, TileSide) * k * sizeof(float)) + (ThreadCount * ThreadScratchBytes(k, rowsPerTile)));

    // Per thread: the decoded weight tile (rows of one slice), then one row of the activation type (rounding goes through it).
    private static long ThreadScratchBytes(long k, long rowsPerTile) => RoundUp(((rowsPerTile * SliceLength(k)) + k) * sizeof(float), 64);

    private static long MaxFloatTileRows(long k) => Math.Max(TileSide, FloatTileBytes / (SliceLength(k) * sizeof(float)) / TileSide * TileSide);

    /// <summary>Grows the scratch so a float-tile product of <paramref name="m"/> rows of <paramref name="k"/> needs no allocation.</summary>
    internal void EnsureFloatTileScratch(MatMulKernels kernels, long k, long m)
    {
        if (m > VectorMaxActs && UsesFloatTiles(kernels))
        {
            EnsureScratch(FloatTileScratchBytes(k, m, MaxFloatTileRows(k)));
        }
    }

    private void PrepareFloatTiles()
    {
        var k = _k;
        var threads = (long)ThreadCount;

        // Whole weight-row tiles against the whole batch; smaller tiles only to give every thread enough of them.
        _actsPerTile = _m;
        _actTiles = 1;
        _rowsPerTile = MaxFloatTileRows(k);
        if (threads > 1)
        {
            var balanced = RoundUp((_n + (threads * TilesPerThread) - 1) / (threads * TilesPerThread), TileSide);
            _rowsPerTile = Math.Max(TileSide, Math.Min(_rowsPerTile, balanced));
        }

        _tileCount = (_n + _rowsPerTile - 1) / _rowsPerTile;
        _sliceLength = SliceLength(k);
        _quantizeInJob = true;
        _threadScratchBytes = ThreadScratchBytes(k, _rowsPerTile);
        EnsureScratch(FloatTileScratchBytes(k, _m, _rowsPerTile));
        _floatActivations = (float*)_scratch;
        _threadScratch = _scratch + (RoundUp(_m, TileSide) * k * sizeof(float));
    }

    /// <summary>Activation rows as floats, each value rounded to the activation type as ggml's from_float does.</summary>
    private void PrepareFloatRows(long first, long end, int worker)
    {
        var k = _k;
        var quantize = _kernels.Quantize;
        var widen = _kernels.Activation.Dequantize!;
        var rounded = ThreadActivationRow(worker);
        for (var row = first; row < end; row++)
        {
            var source = _x + (row * k);
            var destination = _floatActivations + (row * k);
            if (_kernels.ScaledRound is { } roundScaled)
            {
                roundScaled(source, destination, k); // F16, carrying MatMulKernels.ScaledActivation for ScaledTileDecode
            }
            else if (quantize is null)
            {
                Buffer.MemoryCopy(source, destination, k * sizeof(float), k * sizeof(float));
            }
            else
            {
                quantize(source, rounded, k);
                widen(rounded, destination, k);
            }
        }
    }

    private float* ThreadWeightTile(int worker) => (float*)(_threadScratch + (worker * _threadScratchBytes));

    private byte* ThreadActivationRow(int worker) => (byte*)(ThreadWeightTile(worker) + (_rowsPerTile * _sliceLength));

    private void RunFloatTile(long tile, int worker)
    {
        var row0 = tile * _rowsPerTile;
        var rows = Math.Min(_rowsPerTile, _n - row0);
        for (long start = 0; start < _k; start += _sliceLength)
        {
            var length = Math.Min(_sliceLength, _k - start);
            // What this thread decodes next: the tile's next slice, else the next tile's first (its run goes forward).
            var next = start + length < _k
                ? new SlicePrefetch(this, row0, rows, start + length)
                : new SlicePrefetch(this, row0 + rows, Math.Min(_rowsPerTile, _n - row0 - rows), 0);
            RunFloatSlice(row0, rows, start, length, next, worker);
        }
    }

    /// <summary>
    /// The tile's rows over values [start, start + length): decoded once, then against every activation row. The first
    /// slice stores its sums; each later one adds its own. Meanwhile <paramref name="next"/> brings the next slice's
    /// weights into L2 a little per activation block: the hardware prefetchers lose the weight stream during the long
    /// compute between decodes, which then waited on memory (F16 prompt of 512 on 1 thread: the decode 5.4 -> 1.8 % of
    /// the time, 44.5 -> 45.5 tokens/s).
    /// </summary>
    private void RunFloatSlice(long row0, long rows, long start, long length, SlicePrefetch next, int worker)
    {
        var k = _k;
        var n = _n;
        var m = _m;
        var decoded = ThreadWeightTile(worker);
        var decode = _kernels.ScaledTileDecode ?? _kernels.Weight.Dequantize!;
        var blockSize = _kernels.Weight.BlockSize;
        for (long r = 0; r < rows; r++)
        {
            var row = _weights + ((row0 + r) * _weightRowBytes);
            decode(row + (start / blockSize * _kernels.Weight.TypeSize), decoded + (r * length), length);
        }

        var blocks = (m + TileSide - 1) / TileSide;
        var linesPerBlock = (next.Lines + blocks - 1) / blocks;
        var dotTile = F32Kernels.DotTile;
        var first = start == 0;
        var partial = stackalloc float[TileSide * TileSide];
        for (long a = 0; a < m; a += TileSide)
        {
            next.Fetch(linesPerBlock);
            var activations = _floatActivations + (a * k) + start;
            var y = _y + (a * n) + row0;
            for (long r = 0; r < rows; r += TileSide)
            {
                if (first && a + TileSide <= m && r + TileSide <= rows)
                {
                    dotTile(length, decoded + (r * length), length, activations, k, y + r, n);
                    continue;
                }

                // An edge tile or a later slice: rows past the batch or the tile hold stale values; their results are
                // dropped, and each kept result is computed exactly as inside a full tile.
                dotTile(length, decoded + (r * length), length, activations, k, partial, TileSide);
                for (long i = 0; i < TileSide && a + i < m; i++)
                {
                    for (long j = 0; j < TileSide && r + j < rows; j++)
                    {
                        var sum = partial[(i * TileSide) + j];
                        y[(i * n) + r + j] = first ? sum : y[(i * n) + r + j] + sum;
                    }
                }
            }
        }
    }

    // Matrix-vector products over F16 weights: activations as F16-rounded floats times MatMulKernels.ScaledActivation
    // (m rows of k floats).
    private bool _scaled;

    private static long ScaledScratchBytes(long k, long m) => checked(m * k * sizeof(float));

    /// <summary>Grows the scratch so a scaled matrix-vector product of <paramref name="m"/> rows needs no allocation.</summary>
    internal void EnsureScaledScratch(MatMulKernels kernels, long k, long m)
    {
        if (kernels.ScaledDot is not null)
        {
            EnsureScratch(ScaledScratchBytes(k, Math.Min(m, VectorMaxActs)));
        }
    }

    private void PrepareScaledRows(long first, long end)
    {
        for (var row = first; row < end; row++)
        {
            _kernels.ScaledRound!(_x + (row * _k), (float*)(_activations + (row * _activationRowBytes)), _k);
        }
    }

    /// <summary>The weight bytes of one slice (rows [row0, row0 + rows), values from start), fetched into L2 in steps.</summary>
    private struct SlicePrefetch
    {
        private const int Line = 64;
        private readonly long _rowStride;
        private readonly long _rowBytes;
        private byte* _row;
        private long _offset;
        private long _rowsLeft;

        public SlicePrefetch(MatMulRunner runner, long row0, long rows, long start)
        {
            var weight = runner._kernels.Weight;
            _row = runner._weights + (row0 * runner._weightRowBytes) + (start / weight.BlockSize * weight.TypeSize);
            _rowStride = runner._weightRowBytes;
            _rowBytes = RoundUp(Math.Min(runner._sliceLength, runner._k - start) / weight.BlockSize * weight.TypeSize, Line);
            _rowsLeft = Math.Max(0, rows);
            _offset = 0;
            Lines = _rowsLeft * (_rowBytes / Line);
        }

        /// <summary>Lines in the slice.</summary>
        public long Lines { get; }

        /// <summary>Prefetches the slice's next <paramref name="count"/> lines (none once all are asked for).</summary>
        public void Fetch(long count)
        {
            for (; count > 0 && _rowsLeft > 0; count--)
            {
                Simd.PrefetchToL2(_row + _offset);
                _offset += Line;
                if (_offset == _rowBytes)
                {
                    _offset = 0;
                    _row += _rowStride;
                    _rowsLeft--;
                }
            }
        }
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;
}
