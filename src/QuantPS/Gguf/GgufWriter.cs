namespace QuantPS.Gguf;

/// <summary>
/// Writes a GGUF version 3 file atomically: everything goes to a hidden temporary file in the
/// target folder, which replaces the target only on <see cref="Commit"/>. Disposing without
/// committing (an error, a cancellation) deletes the temporary file and leaves no output.
/// Tensor data is streamed in table order, so nothing larger than one chunk is held in memory.
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private static readonly byte[] Zeros = new byte[4096];

    private readonly FileStream _stream;
    private readonly bool _overwrite;
    private int _tensor;
    private long _writtenOfTensor;
    private bool _committed;
    private bool _disposed;

    private GgufWriter(string path, string tempPath, FileStream stream, GgufWritePlan plan, bool overwrite)
    {
        Path = path;
        TempPath = tempPath;
        _stream = stream;
        Plan = plan;
        _overwrite = overwrite;
    }

    /// <summary>The file that appears on <see cref="Commit"/>.</summary>
    public string Path { get; }

    /// <summary>Where the bytes go until then.</summary>
    public string TempPath { get; }

    public GgufWritePlan Plan { get; }

    /// <summary>The tensor the next <see cref="WriteTensorData"/> call continues, or null when all are written.</summary>
    public GgufTensorInfo? CurrentTensor => _tensor < Plan.Tensors.Count ? Plan.Tensors[_tensor] : null;

    /// <summary>
    /// Starts a file at <paramref name="path"/>. Refuses an existing file unless <paramref name="overwrite"/>.
    /// The header is written at once; tensor data follows through <see cref="WriteTensorData"/>.
    /// </summary>
    public static GgufWriter Create(string path, IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<GgufTensorSpec> tensors, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        var plan = GgufLayout.Plan(metadata, tensors);
        ThrowIfExists(fullPath, overwrite);

        var folder = System.IO.Path.GetDirectoryName(fullPath)!;
        var tempPath = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        FileStream stream;
        try
        {
            stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GgufException(GgufErrorKind.IoError, $"Cannot write in {folder}: {e.Message}", fullPath, inner: e);
        }

        var writer = new GgufWriter(fullPath, tempPath, stream, plan, overwrite);
        try
        {
            writer.WriteBytes(plan.Header);
            writer.Pad(plan.DataOffset - plan.Header.Length);
            writer.SkipEmptyTensors();
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Appends bytes of the current tensor; a call may span tensor boundaries.</summary>
    public void WriteTensorData(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (!data.IsEmpty)
        {
            var tensor = CurrentTensor
                ?? throw new InvalidOperationException($"All {Plan.Tensors.Count} tensors are complete; {data.Length} bytes are left over.");
            var take = (int)Math.Min(data.Length, tensor.SizeBytes - _writtenOfTensor);
            WriteBytes(data[..take]);
            _writtenOfTensor += take;
            data = data[take..];
            if (_writtenOfTensor == tensor.SizeBytes)
            {
                Pad(GgufLayout.AlignUp(tensor.SizeBytes, Plan.Alignment) - tensor.SizeBytes);
                _tensor++;
                _writtenOfTensor = 0;
                SkipEmptyTensors();
            }
        }
    }

    /// <summary>Flushes to disk and moves the file into place. Every tensor must be complete.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (CurrentTensor is { } missing)
        {
            throw new InvalidOperationException($"Tensor '{missing.Name}' has {_writtenOfTensor} of its {missing.SizeBytes} bytes; the file is incomplete.");
        }

        try
        {
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailed(e);
        }

        try
        {
            File.Move(TempPath, Path, _overwrite);
        }
        catch (IOException e) when (!_overwrite && File.Exists(Path))
        {
            throw new GgufException(GgufErrorKind.OutputExists, $"{Path} already exists. Choose another name or allow overwriting (-Force).", Path, inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GgufException(GgufErrorKind.IoError, $"Cannot move the finished file into place at {Path}: {e.Message}", Path, inner: e);
        }

        _committed = true;
    }

    /// <summary>Writes a whole model at once: metadata, then each tensor's bytes from <paramref name="dataOf"/>.</summary>
    public static void Write(string path, IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<GgufTensorSpec> tensors, Func<int, ReadOnlyMemory<byte>> dataOf, bool overwrite = false)
    {
        using var writer = Create(path, metadata, tensors, overwrite);
        for (var i = 0; i < tensors.Count; i++)
        {
            writer.WriteTensorData(dataOf(i).Span);
        }

        writer.Commit();
    }

    /// <summary>
    /// Writes an opened model back out as one GGUF v3 file: same metadata (order and types),
    /// same tensors in the same order, same bytes. A v2/v3 file written by llama.cpp or gguf-py
    /// comes back byte for byte.
    /// </summary>
    public static void Copy(GgufModel source, string path, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        var tensors = source.Tensors.Select(GgufTensorSpec.From).ToArray();
        var metadata = source.IsSplit
            ? source.Metadata.Where(m => !m.Key.StartsWith("split.", StringComparison.Ordinal)).ToArray()
            : source.Metadata.ToArray();
        using var writer = Create(path, metadata, tensors, overwrite);
        foreach (var tensor in source.Tensors)
        {
            writer.WriteTensorData(source.GetTensorData(tensor));
        }

        writer.Commit();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stream.Dispose();
        if (!_committed)
        {
            try
            {
                File.Delete(TempPath);
            }
            catch (IOException)
            {
                // Best effort: the hidden .tmp name marks it as ours if it ever survives.
            }
        }
    }

    private static void ThrowIfExists(string path, bool overwrite)
    {
        if (!overwrite && File.Exists(path))
        {
            throw new GgufException(GgufErrorKind.OutputExists, $"{path} already exists. Choose another name or allow overwriting (-Force).", path);
        }

        if (Directory.Exists(path))
        {
            throw new GgufException(GgufErrorKind.InvalidArgument, $"{path} is a folder; give a file name.", path);
        }
    }

    private void SkipEmptyTensors()
    {
        while (CurrentTensor is { SizeBytes: 0 })
        {
            _tensor++;
        }
    }

    private void Pad(long count)
    {
        while (count > 0)
        {
            var n = (int)Math.Min(count, Zeros.Length);
            WriteBytes(Zeros.AsSpan(0, n));
            count -= n;
        }
    }

    private void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _stream.Write(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailed(e);
        }
    }

    /// <summary>I/O failures (a full disk, a vanished folder) become a GgufException naming the output.</summary>
    private GgufException WriteFailed(Exception e) =>
        new(GgufErrorKind.IoError, $"Writing {Path} failed: {e.Message}", Path, inner: e);
}
