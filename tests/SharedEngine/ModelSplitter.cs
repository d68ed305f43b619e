using QuantPS.Gguf;

namespace QuantPS.TestSupport;

/// <summary>
/// Cuts a model into shards the way llama-gguf-split --split-max-tensors does: tensors in file order,
/// at most <c>perShard</c> each; the first shard keeps all metadata, every shard ends with the split keys.
/// </summary>
internal static class ModelSplitter
{
    public static string[] Write(GgufModel model, string prefix, int perShard)
    {
        var chunks = model.Tensors.Chunk(perShard).ToArray();
        var paths = new string[chunks.Length];
        for (int i = 0; i < chunks.Length; i++)
        {
            var metadata = i == 0 ? model.Metadata.Where(e => !e.Key.StartsWith("split.", StringComparison.Ordinal)).ToList() : [];
            metadata.Add(GgufMetadataEntry.Of(GgufSplit.NoKey, (ushort)i));
            metadata.Add(GgufMetadataEntry.Of(GgufSplit.CountKey, (ushort)chunks.Length));
            metadata.Add(GgufMetadataEntry.Of(GgufSplit.TensorsCountKey, model.Tensors.Count));
            var tensors = chunks[i];
            paths[i] = GgufSplit.ShardName(prefix, i + 1, chunks.Length);
            GgufWriter.Write(paths[i], metadata, tensors.Select(GgufTensorSpec.From).ToArray(), t => model.GetTensorData(tensors[t]).ToArray());
        }

        return paths;
    }
}
