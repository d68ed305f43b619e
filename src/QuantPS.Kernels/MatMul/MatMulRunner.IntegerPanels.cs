using QuantPS.Kernels.Generated;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix-matrix products through IntegerPanelKernels (see <see cref="PanelKind"/>): weights whose blocks are 32
/// integers and one scale (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4) and K-quants (Q2_K..Q6_K). Each activation row is
/// quantized once as ggml does (Q8_0 or Q8_K), then laid out for the kernel; each thread decodes a tile of weight
/// rows once into row-interleaved panels and runs every activation row past them. Each result is the scalar dot
/// product's sequence of operations, so it depends neither on the tiling nor on the thread count.
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    // A thread's panels aim at this many bytes, so they stay in L2 while the activation rows stream past.
    private const long PanelTileBytes = 256 * 1024;

    private PanelKind _panelKind;
    private long _panelBlocks;
    private long _panelInts;
    private long _panelActivationBytes;
    private long _panelThreadBytes;
    private byte* _panelActivations;
    private byte* _panelThreadScratch;

    private bool UsingPanels => _panelKind != PanelKind.None;

    private static bool UsesIntegerPanels(MatMulKernels kernels) => kernels.Panels != PanelKind.None;

    private static int Lanes => IntegerPanelKernels.Lanes;

    private static bool IsSuper(PanelKind kind) => kind is PanelKind.Super or PanelKind.SuperBytes;

    private static long PanelBlockSize(MatMulKernels kernels) =>
        IsSuper(kernels.Panels) ? IntegerPanelKernels.SuperBlockSize : IntegerPanelKernels.BlockSize;

    // Int32 per panel: per block, the units and the scales, each a vector of lanes.
    private static long PanelInts(MatMulKernels kernels, long k) => k / PanelBlockSize(kernels) * Lanes * kernels.Panels switch
    {
        PanelKind.Bytes => IntegerPanelKernels.ByteBlockInts,
        PanelKind.Super => IntegerPanelKernels.SuperBlockInts(kernels.MinUnits),
        PanelKind.SuperBytes => IntegerPanelKernels.SuperByteBlockInts(kernels.SubBlock, kernels.MinUnits),
        _ => IntegerPanelKernels.BlockInts,
    };

    // Sub-block sums per super-block the super-panels' activations carry: one per weight min.
    private static long ActivationSums(MatMulKernels kernels) => 2L * kernels.MinUnits;

    // An activation row, in whole cache lines so rows start aligned. Byte panels: k int8 values, a float scale and an
    // int32 sum per block. Int16 panels: k int16 values, a float scale per block. Super-panels: k int16 values (int8 for
    // byte super-panels), a float scale per block, then the sub-block sums (int16).
    private static long PanelActivationBytes(MatMulKernels kernels, long k)
    {
        var blocks = k / PanelBlockSize(kernels);
        return RoundUp(kernels.Panels switch
        {
            PanelKind.Bytes => k + (blocks * (sizeof(float) + sizeof(int))),
            PanelKind.Super => (k * sizeof(short)) + (blocks * (sizeof(float) + (ActivationSums(kernels) * sizeof(short)))),
            PanelKind.SuperBytes => k + (blocks * (sizeof(float) + (ActivationSums(kernels) * sizeof(short)))),
            _ => (k * sizeof(short)) + (blocks * sizeof(float)),
        }, 64);
    }

    private static long MaxPanelRows(MatMulKernels kernels, long k) => Math.Max(1, PanelTileBytes / (PanelInts(kernels, k) * sizeof(int))) * Lanes;

    // One decoded weight row: int8 values and a float scale per block; for super-panels, int16 values, the int16
    // sub-block mins and (d, dmin) per block; for byte super-panels, byte values, int16 sub-scales and mins, (d, dmin).
    private static long DecodedRowBytes(MatMulKernels kernels, long k)
    {
        var superBlocks = k / IntegerPanelKernels.SuperBlockSize;
        return RoundUp(kernels.Panels switch
        {
            PanelKind.Super => (k * sizeof(short)) + (superBlocks * ((ActivationSums(kernels) * sizeof(short)) + (2 * sizeof(float)))),
            PanelKind.SuperBytes => k + (superBlocks * ((2 * SubBlocksPerSuper(kernels) * sizeof(short)) + (2 * sizeof(float)))),
            _ => k + (k / IntegerPanelKernels.BlockSize * sizeof(float)),
        }, 64);
    }

    private static long SubBlocksPerSuper(MatMulKernels kernels) => IntegerPanelKernels.SuperBlockSize / kernels.SubBlock;

    // Per thread: its panels, one panel's rows decoded, one quantized activation row (and its values, for the int16
    // layouts), one result tile.
    private static long PanelThreadBytes(MatMulKernels kernels, long k, long rowsPerTile) =>
        checked((rowsPerTile / Lanes * PanelInts(kernels, k) * sizeof(int))
            + (Lanes * DecodedRowBytes(kernels, k))
            + RoundUp(kernels.Activation.RowSizeBytes(k), 64)
            + RoundUp(k, 64)
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
        _panelBlocks = k / PanelBlockSize(_kernels);
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

    private byte* ThreadDecodedRows(int worker) => (byte*)(ThreadPanels(worker) + (_rowsPerTile / Lanes * _panelInts));

    private byte* ThreadQuantizedRow(int worker) => ThreadDecodedRows(worker) + (Lanes * DecodedRowBytes(_kernels, _k));

    private sbyte* ThreadActivationValues(int worker) => (sbyte*)(ThreadQuantizedRow(worker) + RoundUp(_kernels.Activation.RowSizeBytes(_k), 64));

    private float* ThreadPanelResults(int worker) => (float*)((byte*)ThreadActivationValues(worker) + RoundUp(_k, 64));

    /// <summary>Activation rows quantized as ggml does, then laid out for the panel kernel.</summary>
    private void PreparePanelRows(long first, long end, int worker)
    {
        var k = _k;
        var blocks = _panelBlocks;
        var quantized = ThreadQuantizedRow(worker);
        var values = ThreadActivationValues(worker);
        for (var row = first; row < end; row++)
        {
            var destination = _panelActivations + (row * _panelActivationBytes);
            _kernels.Quantize!(_x + (row * k), quantized, k);
            if (_panelKind == PanelKind.Bytes)
            {
                // Values as they are, then the scales, then each block's sum (the bias comes off as bias x sum).
                var rowValues = (sbyte*)destination;
                _kernels.ActivationDecode!(quantized, rowValues, (float*)(destination + k), k);
                SumRuns(rowValues, k, IntegerPanelKernels.BlockSize, (int*)(destination + k + (blocks * sizeof(float))));
                continue;
            }

            float* scales;
            if (_panelKind == PanelKind.SuperBytes)
            {
                values = (sbyte*)destination;
                scales = (float*)(destination + k);
                _kernels.ActivationDecode!(quantized, values, scales, k);
            }
            else
            {
                var wide = (short*)destination;
                scales = (float*)(wide + k);
                _kernels.ActivationDecode!(quantized, values, scales, k);
                for (long i = 0; i < k; i++)
                {
                    wide[i] = values[i];
                }
            }

            if (IsSuper(_panelKind) && _kernels.MinUnits > 0)
            {
                // The sums of each weight sub-block's span, which its min multiplies.
                var sums = (short*)(scales + blocks);
                var run = IntegerPanelKernels.SuperBlockSize / ActivationSums(_kernels);
                for (long i = 0; i < k / run; i++)
                {
                    var sum = 0;
                    for (var j = i * run; j < (i + 1) * run; j++)
                    {
                        sum += values[j];
                    }

                    sums[i] = (short)sum;
                }
            }
        }
    }

    private static void SumRuns(sbyte* values, long k, long run, int* sums)
    {
        for (long i = 0; i < k / run; i++)
        {
            var sum = 0;
            for (var j = i * run; j < (i + 1) * run; j++)
            {
                sum += values[j];
            }

            sums[i] = sum;
        }
    }

    /// <summary>
    /// Weight rows [row0, row0 + rows) decoded, then packed into one panel (lanes past <paramref name="rows"/> are zero).
    /// </summary>
    private void PackPanel(long row0, long rows, int* panel, int worker)
    {
        if (_panelKind == PanelKind.Super)
        {
            PackSuperPanel(row0, rows, panel, worker);
            return;
        }

        if (_panelKind == PanelKind.SuperBytes)
        {
            PackSuperBytePanel(row0, rows, panel, worker);
            return;
        }

        var lanes = Lanes;
        var k = _k;
        var values = (sbyte*)ThreadDecodedRows(worker);
        var scales = (float*)(values + (lanes * k));
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

        if (_panelKind == PanelKind.Bytes)
        {
            IntegerPanelKernels.PackBytePanel(values, k, scales, _panelBlocks, _panelBlocks, panel, _kernels.ByteBias);
        }
        else
        {
            IntegerPanelKernels.PackPanel(values, k, scales, _panelBlocks, _panelBlocks, panel);
        }
    }

    private void PackSuperPanel(long row0, long rows, int* panel, int worker)
    {
        var lanes = Lanes;
        var k = _k;
        var mins = ActivationSums(_kernels) * _panelBlocks;
        var values = (short*)ThreadDecodedRows(worker);
        var minValues = values + (lanes * k);
        var scales = (float*)(minValues + (lanes * mins));
        for (var r = 0; r < lanes; r++)
        {
            if (r < rows)
            {
                _kernels.SuperDecode!(_weights + ((row0 + r) * _weightRowBytes), values + (r * k), minValues + (r * mins), scales + (r * 2 * _panelBlocks), k);
            }
            else
            {
                new Span<short>(values + (r * k), checked((int)k)).Clear();
                new Span<short>(minValues + (r * mins), checked((int)mins)).Clear();
                new Span<float>(scales + (r * 2 * _panelBlocks), checked((int)(2 * _panelBlocks))).Clear();
            }
        }

        IntegerPanelKernels.PackSuperPanel(values, k, minValues, mins, scales, 2 * _panelBlocks, _panelBlocks, panel, _kernels.MinUnits);
    }

    private void PackSuperBytePanel(long row0, long rows, int* panel, int worker)
    {
        var lanes = Lanes;
        var k = _k;
        var subs = SubBlocksPerSuper(_kernels) * _panelBlocks;
        var values = ThreadDecodedRows(worker);
        var subScales = (short*)(values + (lanes * k));
        var mins = subScales + (lanes * subs);
        var scales = (float*)(mins + (lanes * subs));
        for (var r = 0; r < lanes; r++)
        {
            if (r < rows)
            {
                _kernels.SubBlocksDecode!(_weights + ((row0 + r) * _weightRowBytes), values + (r * k), subScales + (r * subs), mins + (r * subs), scales + (r * 2 * _panelBlocks), k);
            }
            else
            {
                new Span<byte>(values + (r * k), checked((int)k)).Clear();
                new Span<short>(subScales + (r * subs), checked((int)subs)).Clear();
                new Span<short>(mins + (r * subs), checked((int)subs)).Clear();
                new Span<float>(scales + (r * 2 * _panelBlocks), checked((int)(2 * _panelBlocks))).Clear();
            }
        }

        // Sub-scales and mins of a row share one stride (their rows are laid out alike).
        IntegerPanelKernels.PackSuperBytePanel(values, k, subScales, mins, subs, scales, 2 * _panelBlocks, _panelBlocks, panel, _kernels.SubBlock, _kernels.MinUnits);
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
        switch (_panelKind)
        {
            case PanelKind.Bytes:
                _kernels.BytePanelTile!(_panelBlocks, panel, (sbyte*)activations, _panelActivationBytes, _kernels.ByteBias, results, resultStride);
                break;
            case PanelKind.SuperBytes:
                _kernels.BytePanelTile!(_panelBlocks, panel, (sbyte*)activations, _panelActivationBytes, 0, results, resultStride);
                break;
            case PanelKind.Super:
                _kernels.SuperPanelTile!(_panelBlocks, panel, (short*)activations, _panelActivationBytes / sizeof(short), results, resultStride);
                break;
            default:
                IntegerPanelKernels.PanelTile(_panelBlocks, panel, (short*)activations, _panelActivationBytes / sizeof(short), results, resultStride);
                break;
        }
    }
}
