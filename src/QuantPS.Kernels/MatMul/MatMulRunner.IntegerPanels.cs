using QuantPS.Kernels.Generated;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix-matrix products over weights whose blocks are 32 integers and one scale (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4),
/// through IntegerPanelKernels. Each activation row is quantized once as ggml does (to Q8_0), then widened to int16
/// with its block scales as floats; each thread decodes a tile of weight rows once into row-interleaved panels and runs
/// every activation row past them. Each result is the scalar dot product's sequence of operations, so it depends
/// neither on the tiling nor on the thread count.
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    // A thread's panels aim at this many bytes, so they stay in L2 while the activation rows stream past.
    private const long PanelTileBytes = 256 * 1024;

    private const int PanelBlock = IntegerPanelKernels.BlockSize;

    private bool _panels;
    private long _panelBlocks;
    private long _panelInts;
    private long _panelActivationStride;
    private long _panelThreadBytes;
    private short* _panelActivations;
    private byte* _panelThreadScratch;

    private static bool UsesIntegerPanels(MatMulKernels kernels) => kernels.PanelDecode is not null;

    private static int Lanes => IntegerPanelKernels.Lanes;

    // Int32 per panel: per block, 16 pair groups and the scales, each a vector of lanes.
    private static long PanelInts(long k) => k / PanelBlock * IntegerPanelKernels.BlockInts * Lanes;

    // An activation row: k int16, then a float scale per block; whole cache lines, so rows start aligned.
    private static long PanelActivationStride(long k) => RoundUp(k + (2 * (k / PanelBlock)), 32);

    private static long MaxPanelRows(long k) => Math.Max(1, PanelTileBytes / (PanelInts(k) * sizeof(int))) * Lanes;

    // A decoded weight row: k int8 values and a float scale per block.
    private static long DecodedRowBytes(long k) => RoundUp(k + (k / PanelBlock * sizeof(float)), 64);

    // Per thread: its panels, one panel's rows decoded (values, then scales), one quantized activation row, one result tile.
    private static long PanelThreadBytes(MatMulKernels kernels, long k, long rowsPerTile) =>
        checked((rowsPerTile / Lanes * PanelInts(k) * sizeof(int))
            + (Lanes * DecodedRowBytes(k))
            + RoundUp(kernels.Activation.RowSizeBytes(k), 64)
            + RoundUp(IntegerPanelKernels.Tokens * Lanes * sizeof(float), 64));

    private long PanelScratchBytes(MatMulKernels kernels, long k, long m, long rowsPerTile) =>
        checked((RoundUp(m, IntegerPanelKernels.Tokens) * PanelActivationStride(k) * sizeof(short))
            + (ThreadCount * PanelThreadBytes(kernels, k, rowsPerTile)));

    /// <summary>Grows the scratch so an integer-panel product of <paramref name="m"/> rows of <paramref name="k"/> needs no allocation.</summary>
    internal void EnsureIntegerPanelScratch(MatMulKernels kernels, long k, long m)
    {
        if (m > VectorMaxActs && UsesIntegerPanels(kernels))
        {
            EnsureScratch(PanelScratchBytes(kernels, k, m, MaxPanelRows(k)));
        }
    }

    private void PrepareIntegerPanels()
    {
        var k = _k;
        var threads = (long)ThreadCount;

        // Whole row tiles against the whole batch; smaller tiles only to give every thread enough of them.
        _actsPerTile = _m;
        _actTiles = 1;
        _rowsPerTile = MaxPanelRows(k);
        if (threads > 1)
        {
            var balanced = RoundUp((_n + (threads * TilesPerThread) - 1) / (threads * TilesPerThread), Lanes);
            _rowsPerTile = Math.Max(Lanes, Math.Min(_rowsPerTile, balanced));
        }

        _tileCount = (_n + _rowsPerTile - 1) / _rowsPerTile;
        _quantizeInJob = true;
        _panelBlocks = k / PanelBlock;
        _panelInts = PanelInts(k);
        _panelActivationStride = PanelActivationStride(k);
        _panelThreadBytes = PanelThreadBytes(_kernels, k, _rowsPerTile);
        EnsureScratch(PanelScratchBytes(_kernels, k, _m, _rowsPerTile));
        _panelActivations = (short*)_scratch;
        var activationRows = RoundUp(_m, IntegerPanelKernels.Tokens);
        _panelThreadScratch = _scratch + (activationRows * _panelActivationStride * sizeof(short));

        // Rows past the batch fill the last call's spare slots: zeros, and their results are dropped.
        var padding = _panelActivations + (_m * _panelActivationStride);
        new Span<short>(padding, checked((int)((activationRows - _m) * _panelActivationStride))).Clear();
    }

    private int* ThreadPanels(int worker) => (int*)(_panelThreadScratch + (worker * _panelThreadBytes));

    private sbyte* ThreadDecodedValues(int worker) => (sbyte*)(ThreadPanels(worker) + (_rowsPerTile / Lanes * _panelInts));

    private float* ThreadDecodedScales(int worker) => (float*)(ThreadDecodedValues(worker) + (Lanes * _k));

    private byte* ThreadQuantizedRow(int worker) => (byte*)ThreadDecodedValues(worker) + (Lanes * DecodedRowBytes(_k));

    private float* ThreadPanelResults(int worker) => (float*)(ThreadQuantizedRow(worker) + RoundUp(_kernels.Activation.RowSizeBytes(_k), 64));

    /// <summary>Activation rows quantized as ggml does, then as int16 values followed by their block scales.</summary>
    private void PreparePanelRows(long first, long end, int worker)
    {
        var k = _k;
        var quantized = ThreadQuantizedRow(worker);
        var values = ThreadDecodedValues(worker);
        for (var row = first; row < end; row++)
        {
            var destination = _panelActivations + (row * _panelActivationStride);
            _kernels.Quantize!(_x + (row * k), quantized, k);
            _kernels.ActivationDecode!(quantized, values, (float*)(destination + k), k);
            for (long i = 0; i < k; i++)
            {
                destination[i] = values[i];
            }
        }
    }

    /// <summary>
    /// Weight rows [row0, row0 + rows) decoded, then packed into one panel (lanes past <paramref name="rows"/> are zero).
    /// </summary>
    private void PackPanel(long row0, long rows, int* panel, int worker)
    {
        var lanes = Lanes;
        var k = _k;
        var values = ThreadDecodedValues(worker);
        var scales = ThreadDecodedScales(worker);
        for (var r = 0; r < lanes; r++)
        {
            if (r < rows)
            {
                _kernels.PanelDecode!(_weights + ((row0 + r) * _weightRowBytes), values + (r * k), scales + (r * _panelBlocks), k);
            }
            else
            {
                new Span<sbyte>(values + (r * k), checked((int)k)).Clear();
                new Span<float>(scales + (r * _panelBlocks), checked((int)_panelBlocks)).Clear();
            }
        }

        IntegerPanelKernels.PackPanel(values, k, scales, _panelBlocks, _panelBlocks, panel);
    }

    private void RunPanelTile(long tile, int worker)
    {
        var lanes = Lanes;
        var tokens = IntegerPanelKernels.Tokens;
        var row0 = tile * _rowsPerTile;
        var rows = Math.Min(_rowsPerTile, _n - row0);
        var panelCount = (rows + lanes - 1) / lanes;
        var panels = ThreadPanels(worker);
        for (long p = 0; p < panelCount; p++)
        {
            PackPanel(row0 + (p * lanes), Math.Min(lanes, rows - (p * lanes)), panels + (p * _panelInts), worker);
        }

        var kernel = IntegerPanelKernels.PanelTile;
        var partial = ThreadPanelResults(worker);
        var n = _n;
        var m = _m;
        for (long t = 0; t < m; t += tokens)
        {
            var activations = _panelActivations + (t * _panelActivationStride);
            for (long p = 0; p < panelCount; p++)
            {
                var first = row0 + (p * lanes);
                var y = _y + (t * n) + first;
                if (t + tokens <= m && first + lanes <= n)
                {
                    kernel(_panelBlocks, panels + (p * _panelInts), activations, _panelActivationStride, y, n);
                    continue;
                }

                // The batch's or the matrix's edge: only the real rows and activations are kept.
                kernel(_panelBlocks, panels + (p * _panelInts), activations, _panelActivationStride, partial, lanes);
                for (long i = 0; i < tokens && t + i < m; i++)
                {
                    for (long j = 0; j < lanes && first + j < n; j++)
                    {
                        y[(i * n) + j] = partial[(i * lanes) + j];
                    }
                }
            }
        }
    }
}
