using QuantPS.Gguf;
using QuantPS.TestSupport;

namespace QuantPS.Tests.Engine;

/// <summary>Writes altered copies of a real model with the GGUF writer: metadata replaced or removed, tensors dropped.</summary>
internal static class ModelEdits
{
    public const string Stories = "models/tinyllamas-stories260K/stories260K.gguf";

    public static string Copy(string folder, string sharedModel, string name,
        IReadOnlyDictionary<string, object?>? metadata = null, IReadOnlyCollection<string>? dropTensors = null)
    {
        using var source = GgufModel.Open(SharedData.File(sharedModel));
        var entries = new List<GgufMetadataEntry>();
        foreach (var entry in source.Metadata)
        {
            if (metadata is not null && metadata.TryGetValue(entry.Key, out var replacement))
            {
                if (replacement is not null)
                {
                    entries.Add(GgufMetadataEntry.Of(entry.Key, replacement));
                }
            }
            else
            {
                entries.Add(entry);
            }
        }

        var tensors = source.Tensors.Where(t => dropTensors is null || !dropTensors.Contains(t.Name)).ToList();
        var path = Path.Combine(folder, name);
        GgufWriter.Write(path, entries, tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToList(),
            i => source.GetTensorData(tensors[i]).ToArray());
        return path;
    }
}
