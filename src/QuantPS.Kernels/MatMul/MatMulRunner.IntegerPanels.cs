using QuantPS.Kernels.Generated;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix-matrix products over weights whose blocks are 32 integers and one scale (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4),
/// through IntegerPanelKernels. Each activation row is quantized once as ggml does (to Q8_0), then laid out for the
/// kernel: int8 values with block scales and sums for the byte panels (weights of a narrow range, see
/// <see cref="MatMulKernels.ByteFlush"/>), int16 values with block scales for the int16 panels. Each thread decodes a
/// tile of weight rows once into row-interleaved panels and runs every activation row past them. Each result is the
/// scalar dot product's sequence of operations, so it depends neither on the tiling nor on the thread count.
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    // A thread's panels aim at this many bytes, so they stay in L2 while the activation rows stream past.
    private const long PanelTileBytes = 256 * 1024;

    private const int PanelBlock = IntegerPanelKernels.BlockSize;

    private bool _panels;
    private bool _bytePanels;
    private long _panelBlocks;
    private long _panelInts;
    private long _panelActivationBytes;
    private long _panelThreadBytes;
    private byte* _panelActivations;
    private byte* _panelThreadScratch;

    private static bool UsesIntegerPanels(MatMulKernels kernels) => kernels.PanelDecode is not null;

    private static int Lanes => IntegerPanelKernels.Lanes;

    // Int32 per panel: per block, the units (16 int16 pairs or 8 byte quads) and the scales, each a vector of lanes.
    private static long PanelInts(MatMulKernels kernels, long k) =>
        k / PanelBlock * (kernels.ByteFlush > 0 ? IntegerPanelKernels.ByteBlockInts : IntegerPanelKernels.BlockInts) * Lanes;

    // An activation row, in whole cache lines so rows start aligned: k int8 values, a float scale and an int32 sum per
    // block (byte panels); or k int16 values and a float scale per block.
    private static long PanelActivationBytes(MatMulKernels kernels, long k) => kernels.ByteFlush > 0
        ? RoundUp(k + (k / PanelBlock * (sizeof(float) + sizeof(int))), 64)
        : RoundUp((k * sizeof(short)) + (k / PanelBlock * sizeof(float)), 64);

    private static long MaxPanelRows(MatMulKernels kernels, long k) => Math.Max(1, PanelTileBytes / (PanelInts(kernels, k) * sizeof(int))) * Lanes;

    // A decoded weight row: k int8 values and a float scale per block.
    private static long DecodedRowBytes(long k) => RoundUp(k + (k / PanelBlock * sizeof(float)), 64);

    // Per thread: its panels, one panel's rows decoded (values, then scales), one quantized activation row, one result tile.
    private static long PanelThreadBytes(MatMulKernels kernels, long k, long rowsPerTile) =>
        checked((rowsPerTile / Lanes * PanelInts(kernels, k) * sizeof(int))
            + (Lanes * DecodedRowBytes(k))
            + RoundUp(kernels.Activation.RowSizeBytes(k), 64)
            + RoundUp(IntegerPanelKernels.Tokens * Lanes * sizeof(float), 64));

    private long PanelScratchBytes(MatMulKernels kernels, long k, long m, long rowsPerTile) =>
        checked((RoundUp(m, IntegerPanelKernels.Tokens) * PanelActivationBytes(kernels, k))
            + (ThreadCount * PanelThreadBytes(kernels, k, rowsPerTile)));

    /// <summary>Grows the scratch so an integer-panel product of <paramref name="m"/> rows of <paramref name="k"/> needs no allocation.</summary>
    internal void EnsureIntegerPanelScratch(MatMulKernels kernels, long k, long m)
    {
        if (m > VectorMaxActs && UsesIntegerPanels(kernels))
        {
            EnsureScratch(PanelScratchBytes(kernels, k, m, MaxPanelRows(kernels, k)));
        }
    }

    private void PrepareIntegerPanels()
    {
        var k = _k;
        var threads = (long)ThreadCount;

        // Whole row tiles against the whole batch; smaller tiles only to give every thread enough of them.
        _actsPerTile = _m;
        _actTiles = 1;
        _rowsPerTile = MaxPanelRows(_kernels, k);
        if (threads > 1)
        {
            var balanced = RoundUp((_n + (threads * TilesPerThread) - 1) / (threads * TilesPerThread), Lanes);
            _rowsPerTile = Math.Max(Lanes, Math.Min(_rowsPerTile, balanced));
        }

        _tileCount = (_n + _rowsPerTile - 1) / _rowsPerTile;
        _quantizeInJob = true;
        _bytePanels = _kernels.ByteFlush > 0;
        _panelBlocks = k / PanelBlock;
        _panelInts = PanelInts(_kernels, k);
        _panelActivationBytes = PanelActivationBytes(_kernels, k);
        _panelThreadBytes = PanelThreadBytes(_kernels, k, _rowsPerTile);
        EnsureScratch(PanelScratchBytes(_kernels, k, _m, _rowsPerTile));
        _panelActivations = _scratch;
        var activationRows = RoundUp(_m, IntegerPanelKernels.Tokens);
        _panelThreadScratch = _scratch + (activationRows * _panelActivationBytes);

        // Rows past the batch fill the last call's spare slots: zeros, and their results are dropped.
        var padding = _panelActivations + (_m * _panelActivationBytes);
        new Span<byte>(padding, checked((int)((activationRows - _m) * _panelActivationBytes))).Clear();
    }

    private int* ThreadPanels(int worker) => (int*)(_panelThreadScratch + (worker * _panelThreadBytes));

    private sbyte* ThreadDecodedValues(int worker) => (sbyte*)(ThreadPanels(worker) + (_rowsPerTile / Lanes * _panelInts));

    private float* ThreadDecodedScales(int worker) => (float*)(ThreadDecodedValues(worker) + (Lanes * _k));

    private byte* ThreadQuantizedRow(int worker) => (byte*)ThreadDecodedValues(worker) + (Lanes * DecodedRowBytes(_k));

    private float* ThreadPanelResults(int worker) => (float*)(ThreadQuantizedRow(worker) + RoundUp(_kernels.Activation.RowSizeBytes(_k), 64));

    /// <summary>Activation rows quantized as ggml does, then laid out for the panel kernel.</summary>
    private void PreparePanelRows(long first, long end, int worker)
    {
        var k = _k;
        var blocks = _panelBlocks;
        var quantized = ThreadQuantizedRow(worker);
        var values = ThreadDecodedValues(worker);
        for (var row = first; row < end; row++)
        {
            var destination = _panelActivations + (row * _panelActivationBytes);
            _kernels.Quantize!(_x + (row * k), quantized, k);
            if (_bytePanels)
            {
                // Values as they are, then the scales, then each block's sum (the bias comes off as bias x sum).
                var rowValues = (sbyte*)destination;
                _kernels.ActivationDecode!(quantized, rowValues, (float*)(destination + k), k);
                var sums = (int*)(destination + k + (blocks * sizeof(float)));
                for (long b = 0; b < blocks; b++)
                {
                    var sum = 0;
                    for (long i = b * PanelBlock; i < (b + 1) * PanelBlock; i++)
                    {
                        sum += rowValues[i];
                    }

                    sums[b] = sum;
                }

                continue;
            }

            var wide = (short*)destination;
            _kernels.ActivationDecode!(quantized, values, (float*)(wide + k), k);
            for (long i = 0; i < k; i++)
            {
                wide[i] = values[i];
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

        if (_bytePanels)
        {
            IntegerPanelKernels.PackBytePanel(values, k, scales, _panelBlocks, _panelBlocks, panel, _kernels.ByteBias);
        }
        else
        {
            IntegerPanelKernels.PackPanel(values, k, scales, _panelBlocks, _panelBlocks, panel);
        }
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

        var partial = ThreadPanelResults(worker);
        var n = _n;
        var m = _m;
        for (long t = 0; t < m; t += tokens)
        {
            var activations = _panelActivations + (t * _panelActivationBytes);
            for (long p = 0; p < panelCount; p++)
            {
                var first = row0 + (p * lanes);
                var panel = panels + (p * _panelInts);
                if (t + tokens <= m && first + lanes <= n)
                {
                    RunPanel(panel, activations, _y + (t * n) + first, n);
                    continue;
                }

                // The batch's or the matrix's edge: only the real rows and activations are kept.
                RunPanel(panel, activations, partial, lanes);
                var y = _y + (t * n) + first;
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

    private void RunPanel(int* panel, byte* activations, float* results, long resultStride)
    {
        if (_bytePanels)
        {
            _kernels.BytePanelTile!(_panelBlocks, panel, (sbyte*)activations, _panelActivationBytes, _kernels.ByteBias, results, resultStride);
        }
        else
        {
            IntegerPanelKernels.PanelTile(_panelBlocks, panel, (short*)activations, _panelActivationBytes / sizeof(short), results, resultStride);
        }
    }
}
