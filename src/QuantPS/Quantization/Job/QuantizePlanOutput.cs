using QuantPS.Gguf;

namespace QuantPS.Quantization.Job;

/// <summary>One file of a plan's output: its metadata, tensors and layout (exact size).</summary>
public sealed record QuantizePlanOutput(int Index, IReadOnlyList<GgufMetadataEntry> Metadata, IReadOnlyList<QuantizePlanTensor> Tensors, GgufWritePlan Layout)
{
    /// <summary>The exact size of this file in bytes.</summary>
    public long SizeBytes => Layout.FileLength;

    /// <summary>
    /// Distributes tensors over their output files as llama-quantize does with --keep-split: the first
    /// file has all of the model's metadata, the others none; when there is more than one file, each
    /// ends with split.no, split.count and split.tensors.count.
    /// </summary>
    internal static IReadOnlyList<QuantizePlanOutput> Assemble(IReadOnlyList<GgufMetadataEntry> metadata, IReadOnlyList<QuantizePlanTensor> tensors)
    {
        int count = tensors.Count == 0 ? 1 : tensors.Max(t => t.Shard) + 1;
        var outputs = new QuantizePlanOutput[count];
        for (int i = 0; i < count; i++)
        {
            int index = i;
            var mine = tensors.Where(t => t.Shard == index).ToArray();
            if (mine.Length == 0 && count > 1)
            {
                throw new QuantizationException(QuantizeErrorIds.SplitShardEmpty,
                    $"shard {i + 1} of {count} would hold no tensors (all of its layers are pruned); llama.cpp cannot load such a split. Drop -KeepSplit or prune fewer layers.");
            }

            var list = i == 0 ? metadata.ToList() : new List<GgufMetadataEntry>();
            if (count > 1)
            {
                QuantizePlan.SetMetadata(list, GgufMetadataEntry.Of(GgufSplit.NoKey, (ushort)i));
                QuantizePlan.SetMetadata(list, GgufMetadataEntry.Of(GgufSplit.CountKey, (ushort)count));
                QuantizePlan.SetMetadata(list, GgufMetadataEntry.Of(GgufSplit.TensorsCountKey, tensors.Count));
            }

            var layout = GgufLayout.Plan(list, mine.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToArray());
            outputs[i] = new QuantizePlanOutput(i, list, mine, layout);
        }

        return outputs;
    }
}
