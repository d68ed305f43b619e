namespace QuantPS.Gguf;

/// <summary>One file of a model: its location, header and (for local files) the mapped file.</summary>
public sealed class GgufShard
{
    internal GgufShard(string location, GgufHeader header, GgufFile? file)
    {
        Location = location;
        Header = header;
        File = file;
    }

    /// <summary>Full path, or URL for a remote file.</summary>
    public string Location { get; }

    public GgufHeader Header { get; }

    /// <summary>The mapped file; null for remote files, whose data is not fetched.</summary>
    public GgufFile? File { get; }
}

/// <summary>
/// A model as llama.cpp sees it: one GGUF file, or all shards of a split model opened as one
/// (metadata from the first shard, tensors from all). Local files are memory-mapped; remote
/// ones expose their headers only.
/// </summary>
public sealed partial class GgufModel : IDisposable
{
    private GgufModel(IReadOnlyList<GgufShard> shards, IReadOnlyList<GgufTensorInfo> tensors)
    {
        Shards = shards;
        Tensors = tensors;
    }

    /// <summary>Where the model was opened from: the first shard's path or URL.</summary>
    public string Location => Shards[0].Location;

    public IReadOnlyList<GgufShard> Shards { get; }

    /// <summary>The header of the first shard, which holds the model's metadata.</summary>
    public GgufHeader Header => Shards[0].Header;

    public GgufMetadata Metadata => Header.Metadata;

    /// <summary>Every tensor of the model, in shard then file order; <see cref="GgufTensorInfo.Shard"/> says where each lives.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    public bool IsSplit => Shards.Count > 1;

    /// <summary>Total bytes of all shard files.</summary>
    public long FileLength => Shards.Sum(s => s.Header.FileLength);

    /// <summary>Sum of all tensors' data bytes.</summary>
    public long TensorBytes => Tensors.Sum(t => t.SizeBytes);

    /// <summary>
    /// Opens a local GGUF file. When it is one shard of a split model (name-00001-of-00003.gguf
    /// with split.* keys), every shard is opened and the model comes back whole.
    /// </summary>
    public static GgufModel Open(string path, GgufParseMode mode = GgufParseMode.Strict)
    {
        var first = GgufFile.Open(path, mode);
        try
        {
            var declared = GgufSplit.DeclaredCount(first.Header);
            if (declared <= 1)
            {
                return new GgufModel([new GgufShard(first.Path, first.Header, first)], first.Header.Tensors);
            }

            return OpenSplit(first, declared, mode);
        }
        catch
        {
            first.Dispose();
            throw;
        }
    }

    private static GgufModel OpenSplit(GgufFile opened, int declared, GgufParseMode mode)
    {
        if (!GgufSplit.TryParseShardName(opened.Path, out var prefix, out var number, out var count) || count != declared)
        {
            throw new GgufException(GgufErrorKind.SplitIncomplete,
                $"{opened.Path} is shard {opened.Header.Metadata.GetInteger(GgufSplit.NoKey) + 1} of a {declared}-file split model, but its name does not follow <name>-0000N-of-{declared:D5}.gguf, so the other shards cannot be found. Rename the shards as llama-gguf-split wrote them.",
                opened.Path);
        }

        var files = new GgufFile[count];
        files[number - 1] = opened;
        try
        {
            for (var i = 1; i <= count; i++)
            {
                if (i == number)
                {
                    continue;
                }

                var shardPath = GgufSplit.ShardName(prefix, i, count);
                if (!System.IO.File.Exists(shardPath))
                {
                    throw new GgufException(GgufErrorKind.SplitIncomplete,
                        $"Shard {i} of {count} is missing: {shardPath}. A split model needs all its files in one folder.", shardPath);
                }

                files[i - 1] = GgufFile.Open(shardPath, mode);
            }

            var headers = files.Select(f => f.Header).ToArray();
            var tensors = GgufSplit.Merge(headers, files.Select(f => f.Path).ToArray());
            return new GgufModel(files.Select(f => new GgufShard(f.Path, f.Header, f)).ToArray(), tensors);
        }
        catch
        {
            foreach (var file in files)
            {
                if (!ReferenceEquals(file, opened))
                {
                    file?.Dispose();
                }
            }

            throw;
        }
    }

    /// <summary>The bytes of a tensor of this model, as a view into its shard's mapping.</summary>
    public ReadOnlySpan<byte> GetTensorData(GgufTensorInfo tensor) => FileOf(tensor).GetTensorData(tensor);

    /// <summary>The address of a tensor's data in its shard's mapping (valid until Dispose).</summary>
    public unsafe byte* GetTensorPointer(GgufTensorInfo tensor) => FileOf(tensor).GetTensorPointer(tensor);

    /// <summary>Lets the OS drop bytes [offset, offset + length) of a tensor from this process's memory (see <see cref="GgufFile.ReleasePages"/>).</summary>
    public void ReleaseTensorPages(GgufTensorInfo tensor, long offset, long length)
    {
        var file = FileOf(tensor);
        file.ReleasePages(file.Header.AbsoluteOffset(tensor) + offset, length);
    }

    public GgufTensorInfo? FindTensor(string name) => Tensors.FirstOrDefault(t => t.Name == name);

    private GgufFile FileOf(GgufTensorInfo tensor)
    {
        if (tensor.Shard < 0 || tensor.Shard >= Shards.Count)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' names shard {tensor.Shard}; this model has {Shards.Count}.", nameof(tensor));
        }

        return Shards[tensor.Shard].File
            ?? throw new InvalidOperationException($"{Location} is remote: only its header was read, tensor data is not available.");
    }

    public void Dispose()
    {
        foreach (var shard in Shards)
        {
            shard.File?.Dispose();
        }
    }
}
