using System.IO.MemoryMappedFiles;

namespace QuantPS.Gguf;

/// <summary>
/// One GGUF file on disk, memory-mapped read-only. The header is parsed straight from the
/// mapping (no copy of the file), and tensor data is handed out as views into it, so opening
/// a 100 GB model costs what its header costs.
/// </summary>
public sealed unsafe partial class GgufFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;

    private GgufFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePointer, GgufHeader header)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _base = basePointer;
        Header = header;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    public long Length { get; }

    public GgufHeader Header { get; }

    /// <summary>Opens and parses a GGUF file. Throws <see cref="GgufException"/> for anything unreadable or malformed.</summary>
    public static GgufFile Open(string path, GgufParseMode mode = GgufParseMode.Strict)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.None);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new GgufException(GgufErrorKind.FileNotFound, $"{fullPath}: no such file.", fullPath, inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GgufException(GgufErrorKind.IoError, $"{fullPath}: {e.Message}", fullPath, inner: e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* pointer = null;
        try
        {
            var length = stream.Length;
            if (length == 0)
            {
                // A zero-length file cannot be mapped; the parser refuses it as truncated.
                stream.Dispose();
                var empty = GgufHeaderParser.Parse(ReadOnlySpan<byte>.Empty, mode);
                return new GgufFile(fullPath, 0, null, null, null, empty);
            }

            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset;
            var header = GgufHeaderParser.Parse(pointer, length, length, mode);
            return new GgufFile(fullPath, length, map, view, pointer, header);
        }
        catch (GgufException e)
        {
            Release(view, map, pointer);
            stream.Dispose();
            throw e.WithPath(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Release(view, map, pointer);
            stream.Dispose();
            throw new GgufException(GgufErrorKind.IoError, $"{fullPath}: {e.Message}", fullPath, inner: e);
        }
    }

    /// <summary>The bytes of one tensor of this file, as a view into the mapping (valid until Dispose).</summary>
    public ReadOnlySpan<byte> GetTensorData(GgufTensorInfo tensor)
    {
        if (tensor.SizeBytes > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' has {tensor.SizeBytes} bytes; use GetTensorPointer for tensors over 2 GiB.");
        }

        return new ReadOnlySpan<byte>(GetTensorPointer(tensor), (int)tensor.SizeBytes);
    }

    /// <summary>The address of a tensor's first byte in the mapping (valid until Dispose).</summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null && Length > 0, this);
        var start = Header.AbsoluteOffset(tensor);
        if (start < Header.DataOffset || tensor.SizeBytes > Length - start)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to {Path}.", nameof(tensor));
        }

        return _base + start;
    }

    /// <summary>
    /// Tells the OS this process is done with bytes [offset, offset + length) of the mapping for now: on Linux and
    /// macOS their pages leave the process's resident set (they stay in the OS file cache, and a later read maps
    /// them back). A one-pass reader such as quantization calls it so its memory stays bounded by what it holds,
    /// not by the model's size. Advisory: elsewhere, or if the OS declines, nothing changes.
    /// </summary>
    public void ReleasePages(long offset, long length)
    {
        if (_base == null || length <= 0 || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        long page = Environment.SystemPageSize;
        long start = (Math.Max(0, offset) + page - 1) / page * page; // only whole pages inside the range
        long end = Math.Min(Length, offset + length) / page * page;
        if (end > start && (nint)_base % page == 0) // the view starts at file offset 0 on a page boundary
        {
            _ = NativeMethods.madvise((nint)(_base + start), (nuint)(end - start), NativeMethods.MadvDontNeed);
        }
    }

    /// <summary>
    /// Asks Linux to back the mapping with 2 MiB pages where it can (MADV_HUGEPAGE), for readers that stream the
    /// whole file again and again (inference reads every weight per token). Pages not yet in the OS file cache are
    /// then read ahead as 2 MiB folios and mapped whole, so a streaming dot crosses a page (a TLB miss, and a stop
    /// for the hardware prefetcher) every 2 MiB rather than every 4 KiB; pages already cached keep their size.
    /// Advisory: elsewhere, or if the kernel declines, nothing changes.
    /// </summary>
    public void AdviseHugePages()
    {
        if (_base == null || !OperatingSystem.IsLinux()) return;
        long page = Environment.SystemPageSize;
        long end = Length / page * page;
        if (end > 0 && (nint)_base % page == 0)
        {
            _ = NativeMethods.madvise((nint)_base, (nuint)end, NativeMethods.MadvHugePage);
        }
    }

    /// <summary>Bytes [offset, offset + count) of the file, as a view into the mapping.</summary>
    public ReadOnlySpan<byte> GetBytes(long offset, int count)
    {
        ObjectDisposedException.ThrowIf(_base == null && Length > 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Bytes {offset}..{offset + count} lie past the end of {Path} ({Length} bytes).");
        }

        return new ReadOnlySpan<byte>(_base + offset, count);
    }

    public void Dispose()
    {
        if (_base == null)
        {
            return;
        }

        Release(_view, _map, _base);
        _base = null;
    }

    private static void Release(MemoryMappedViewAccessor? view, MemoryMappedFile? map, byte* pointer)
    {
        if (view is not null && pointer != null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        view?.Dispose();
        map?.Dispose();
    }

    private static partial class NativeMethods
    {
        // MADV_DONTNEED is 4 on Linux and macOS.
        public const int MadvDontNeed = 4;

        // MADV_HUGEPAGE (Linux only).
        public const int MadvHugePage = 14;

        [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
        public static partial int madvise(nint address, nuint length, int advice);
    }
}
