using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using QuantPS.Gguf;

namespace QuantPS.Quantization.Job;

/// <summary>Where written bytes go (a <see cref="GgufWriter"/>'s tensor data, in the job).</summary>
internal delegate void ByteSink(ReadOnlySpan<byte> bytes);

/// <summary>
/// Writes converted slices on a thread of its own while the next slice is computed. Copying into
/// the page cache costs about as much as quantizing a fast type (Q8_0), so doing the two one after
/// the other left a core idle half the time. A few buffers circulate: the job fills one, submits it,
/// and takes the next free one; bytes reach the sink in submission order.
/// </summary>
internal sealed class OverlappedTensorWriter : IDisposable
{
    private const int Buffers = 3;

    private readonly ByteSink _sink;
    private readonly BlockingCollection<(byte[] Buffer, int Length)> _pending = new();
    private readonly BlockingCollection<byte[]> _free = new();
    private readonly Thread _thread;
    private readonly object _gate = new();
    private int _outstanding;
    private volatile ExceptionDispatchInfo? _failure;

    public OverlappedTensorWriter(ByteSink sink)
    {
        _sink = sink;
        for (int i = 0; i < Buffers; i++) _free.Add([]);
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "QuantPS output writer" };
        _thread.Start();
    }

    /// <summary>A buffer of at least <paramref name="bytes"/> bytes, once the writer has finished with one.</summary>
    public byte[] Rent(int bytes)
    {
        var buffer = _free.Take();
        ThrowIfFailed();
        return buffer.Length >= bytes ? buffer : new byte[bytes];
    }

    /// <summary>Queues the first <paramref name="length"/> bytes of a rented buffer; it comes back to <see cref="Rent"/> once written.</summary>
    public void Submit(byte[] buffer, int length)
    {
        lock (_gate) _outstanding++;
        _pending.Add((buffer, length));
    }

    /// <summary>Gives back a rented buffer that was not submitted (an error while filling it).</summary>
    public void Return(byte[] buffer) => _free.Add(buffer);

    /// <summary>Waits until every submitted byte has reached the file writer; rethrows a write failure.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            while (_outstanding > 0) Monitor.Wait(_gate);
        }

        ThrowIfFailed();
    }

    /// <summary>Stops the thread after the queued writes; never throws (the job's own error wins).</summary>
    public void Dispose()
    {
        _pending.CompleteAdding();
        _thread.Join();
        _pending.Dispose();
        _free.Dispose();
    }

    private void WriteLoop()
    {
        foreach (var (buffer, length) in _pending.GetConsumingEnumerable())
        {
            try
            {
                // After a failure the rest are dropped: the job rethrows and deletes the file.
                if (_failure is null) _sink(buffer.AsSpan(0, length));
            }
            catch (Exception e)
            {
                _failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                _free.Add(buffer);
                lock (_gate)
                {
                    _outstanding--;
                    Monitor.PulseAll(_gate);
                }
            }
        }
    }

    private void ThrowIfFailed() => _failure?.Throw();
}
