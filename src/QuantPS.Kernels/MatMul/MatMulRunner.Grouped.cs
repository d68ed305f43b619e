namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Several matrix-vector products of one weight type and row length as one job: y_s = W_s x_s for s = 0 .. count - 1,
/// the way ggml's mul_mat_id runs a token's chosen experts (and a token's Q, K and V, or gate and up, share an input).
/// Each product's rows are computed exactly as the single product's (the same dot on the same quantized activation
/// row), but the activation is quantized once when all share it, and the threads meet once for all of them instead
/// of once per matrix (an MoE layer's 8 experts of a token are 8 small products, where the meeting is a good part of
/// the time).
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    private nint[] _groupWeights = [];
    private nint[] _groupOutputs = [];
    private long[] _groupStarts = [];  // first virtual row of each matrix, then the total
    private long _groupCount;          // 0 when the job is not grouped
    private long _groupInputBytes;     // bytes between the activation rows of consecutive matrices (0: all share row 0)

    /// <summary>
    /// For each s, <paramref name="rows"/>[s] values at <paramref name="outputs"/>[s] = W_s (that many rows of k at
    /// <paramref name="weights"/>[s]) times input row s of <paramref name="x"/> (or row 0 when
    /// <paramref name="inputRows"/> is 1). Arguments are already validated.
    /// </summary>
    public void RunGrouped(MatMulKernels kernels, ReadOnlySpan<nint> weights, ReadOnlySpan<long> rows, ReadOnlySpan<nint> outputs, long k, float* x, int inputRows)
    {
        Enter("a multiplication");

        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, typeof(MatMulWorkspace));
            PrepareGrouped(kernels, weights, rows, outputs, k, x, inputRows);
            if (_pool is null || (double)_n * k <= InlineMaxWork)
            {
                for (long tile = 0; tile < _tileCount; tile++)
                {
                    RunTile(tile, worker: 0);
                }
            }
            else
            {
                _pool.Run();
            }
        }
        finally
        {
            _kernels = null!;
            _groupCount = 0;
            Volatile.Write(ref _busy, 0);
        }
    }

    // The job as one matrix-vector product over the matrices' rows one after the other ("virtual" rows) whose weights,
    // activation row and output change from matrix to matrix; the activation rows are quantized here, before the
    // threads start.
    private void PrepareGrouped(MatMulKernels kernels, ReadOnlySpan<nint> weights, ReadOnlySpan<long> rows, ReadOnlySpan<nint> outputs, long k, float* x, int inputRows)
    {
        var count = weights.Length;
        if (_groupWeights.Length < count)
        {
            var size = Math.Max(count, 2 * _groupWeights.Length);
            _groupWeights = new nint[size];
            _groupOutputs = new nint[size];
            _groupStarts = new long[size + 1];
        }

        weights.CopyTo(_groupWeights);
        outputs.CopyTo(_groupOutputs);
        for (var s = 0; s < count; s++)
        {
            _groupStarts[s + 1] = _groupStarts[s] + rows[s];
        }
        _counters.NextTile = 0; // as Prepare: the workers' shared tile counter, should a job ever not be dealt in runs
        _counters.NextQuantRow = 0;
        _counters.QuantizedRows = 0;
        _kernels = kernels;
        _weights = (byte*)weights[0];
        _weightRowBytes = kernels.Weight.RowSizeBytes(k);
        _k = k;
        _x = x;
        _y = (float*)outputs[0]; // unused by grouped tiles, which write through _groupOutputs
        _floatTiles = false;
        _panelKind = PanelKind.None;
        _scaled = kernels.ScaledDot is not null;
        _prepared = !_scaled && kernels.PreparedDot is not null;
        _quantizeInJob = false;
        _m = inputRows; // for the activation rows; the tiles below are of one activation row each
        PlaceActivations(kernels, k, x, inputRows);

        QuantizeRows(0, inputRows, worker: 0);

        _groupCount = count;
        _groupInputBytes = inputRows == 1 ? 0 : _activationRowBytes;
        _m = 1;
        _n = _groupStarts[count];
        _actsPerTile = 1;
        _actTiles = 1;
        _rowsPerTile = Math.Max(1, VectorTileBytes / _weightRowBytes);
        if (_rowsPerTile >= 16)
        {
            _rowsPerTile &= ~15L; // whole cache lines of y per tile
        }

        var wanted = ThreadCount * TilesPerThread;
        if (ThreadCount > 1 && (_n + _rowsPerTile - 1) / _rowsPerTile < wanted)
        {
            _rowsPerTile = Math.Max(1, (_n + wanted - 1) / wanted);
        }

        _tileCount = (_n + _rowsPerTile - 1) / _rowsPerTile;
        DealRuns(floatTiles: false);
    }

    // Virtual rows [row0, rowEnd) of a grouped job, matrix by matrix.
    private void RunGroupedTile(long tile)
    {
        var row0 = tile * _rowsPerTile;
        var rowEnd = Math.Min(row0 + _rowsPerTile, _n);
        var k = _k;
        var entries = _kernels.DotEntries;
        var entry = (delegate*<long, byte*, byte*, float>)(_scaled ? entries.Scaled : _prepared ? entries.Prepared : entries.Dot);
        var dot = _scaled ? _kernels.ScaledDot! : _prepared ? _kernels.PreparedDot! : _kernels.Dot;
        var matrix = 0;
        for (var row = row0; row < rowEnd;)
        {
            while (_groupStarts[matrix + 1] <= row)
            {
                matrix++;
            }

            var first = _groupStarts[matrix];
            var end = Math.Min(rowEnd, _groupStarts[matrix + 1]);
            var w = (byte*)_groupWeights[matrix] + ((row - first) * _weightRowBytes);
            var y = (float*)_groupOutputs[matrix] - first;
            var activation = _activations + (matrix * _groupInputBytes);
            for (; row < end; row++, w += _weightRowBytes)
            {
                y[row] = entry is not null ? entry(k, w, activation) : dot(k, w, activation);
            }
        }
    }
}
