using System.Globalization;
using QuantPS.Gguf;

namespace QuantPS.Quantization.Job;

/// <summary>
/// llama-quantize's --prune-layers: tensors of the listed layers are dropped and the layers after the
/// first pruned one are renumbered consecutively, in the loader's tensor order.
/// </summary>
internal static class LayerPruning
{
    /// <summary>A kept tensor and its (possibly renumbered) output name.</summary>
    internal readonly record struct Kept(GgufTensorInfo Tensor, string Name);

    /// <summary>
    /// Renames <paramref name="ordered"/> (loader order) for pruning <paramref name="prune"/> (sorted, unique).
    /// <paramref name="blockCount"/> is the number of layers kept, as llama.cpp writes it to block_count.
    /// </summary>
    public static List<Kept> Apply(IReadOnlyList<GgufTensorInfo> ordered, IReadOnlyList<int> prune, out int blockCount)
    {
        blockCount = 0;
        if (prune.Count == 0)
        {
            return ordered.Select(t => new Kept(t, t.Name)).ToList();
        }

        // Layers get their new number the first time one of their tensors is seen, so the mapping
        // follows the tensor order exactly as llama.cpp's remap_layer does.
        var mapped = new Dictionary<int, int?>();
        int next = 0;
        var kept = new List<Kept>(ordered.Count);
        foreach (var tensor in ordered)
        {
            if (!TryFindLayer(tensor.Name, out int layer, out int digitsAt, out int digits))
            {
                kept.Add(new Kept(tensor, tensor.Name));
                continue;
            }

            if (!mapped.TryGetValue(layer, out var target))
            {
                if (prune.Contains(layer)) target = null;
                else if (layer < prune[0]) { target = layer; next = layer + 1; }
                else target = next++;
                mapped[layer] = target;
            }

            if (target is int n)
            {
                var name = string.Concat(tensor.Name.AsSpan(0, digitsAt), n.ToString(CultureInfo.InvariantCulture), tensor.Name.AsSpan(digitsAt + digits));
                kept.Add(new Kept(tensor, name));
            }
        }

        blockCount = next;
        return kept;
    }

    /// <summary>Sorts, removes repeats and checks the list against the model's layer count.</summary>
    /// <exception cref="QuantizationException">A negative layer, one the model does not have, or every layer.</exception>
    public static IReadOnlyList<int> Normalize(IReadOnlyList<int> layers, int layerCount)
    {
        if (layers.Count == 0) return layers;
        var sorted = layers.Distinct().Order().ToArray();
        if (sorted[0] < 0)
        {
            throw new QuantizationException(QuantizeErrorIds.BadPruneLayers, $"invalid layer id {sorted[0]} in -PruneLayers: layers are numbered from 0.");
        }

        if (layerCount > 0 && sorted[^1] >= layerCount)
        {
            throw new QuantizationException(QuantizeErrorIds.BadPruneLayers,
                $"the model has {layerCount} layers (0-{layerCount - 1}); -PruneLayers names layer {sorted[^1]}.");
        }

        if (layerCount > 0 && sorted.Length >= layerCount)
        {
            throw new QuantizationException(QuantizeErrorIds.BadPruneLayers, $"-PruneLayers would remove all {layerCount} layers of the model.");
        }

        return sorted;
    }

    // The first "blk.<digits>." in the name, as std::regex_search(R"(blk\.(\d+)\.)") finds it.
    private static bool TryFindLayer(string name, out int layer, out int digitsAt, out int digits)
    {
        for (int at = name.IndexOf("blk.", StringComparison.Ordinal); at >= 0; at = name.IndexOf("blk.", at + 1, StringComparison.Ordinal))
        {
            int start = at + 4, end = start;
            while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
            if (end > start && end < name.Length && name[end] == '.' &&
                int.TryParse(name.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out layer))
            {
                digitsAt = start;
                digits = end - start;
                return true;
            }
        }

        layer = digitsAt = digits = 0;
        return false;
    }
}
