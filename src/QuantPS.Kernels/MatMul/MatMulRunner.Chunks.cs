namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Jobs other than multiplications on the same threads: attention between two matmuls of a token would otherwise run on
/// one thread while the pool's workers spin, or wake a second set of threads.
/// </summary>
internal sealed partial class MatMulRunner
{
    private Action<int>? _chunkBody;
    private long _chunkCount;

    /// <summary>Runs <paramref name="body"/>(0 .. <paramref name="chunks"/> - 1), the chunks shared out over the threads.</summary>
    public void RunChunks(int chunks, Action<int> body)
    {
        Enter("a job");

        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, typeof(MatMulWorkspace));
            if (_pool is null || chunks <= 1)
            {
                for (var chunk = 0; chunk < chunks; chunk++)
                {
                    body(chunk);
                }

                return;
            }

            _chunkBody = body;
            _chunkCount = chunks;
            _counters.NextTile = 0;
            _pool.Run();
        }
        finally
        {
            _chunkBody = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    // A worker's part of a chunk job: chunks taken one at a time until none is left. False when the job is a multiplication.
    private bool RunChunkJob()
    {
        if (_chunkBody is not { } body)
        {
            return false;
        }

        long chunk;
        while ((chunk = Interlocked.Increment(ref _counters.NextTile) - 1) < _chunkCount)
        {
            body((int)chunk);
        }

        return true;
    }
}
