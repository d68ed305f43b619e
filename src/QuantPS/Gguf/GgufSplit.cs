using System.Globalization;
using System.Text.RegularExpressions;

namespace QuantPS.Gguf;

/// <summary>
/// llama.cpp's split-model convention: shards named &lt;prefix&gt;-00001-of-00003.gguf, each
/// carrying split.no (0-based), split.count and split.tensors.count.
/// </summary>
public static partial class GgufSplit
{
    public const string NoKey = "split.no";
    public const string CountKey = "split.count";
    public const string TensorsCountKey = "split.tensors.count";

    [GeneratedRegex(@"^(?<prefix>.+)-(?<no>\d{5})-of-(?<count>\d{5})\.gguf$", RegexOptions.CultureInvariant)]
    private static partial Regex ShardName();

    /// <summary>Recognizes a shard file name: the prefix (with its folder), 1-based shard number and count.</summary>
    public static bool TryParseShardName(string location, out string prefix, out int number, out int count)
    {
        var match = ShardName().Match(location);
        if (!match.Success)
        {
            prefix = string.Empty;
            number = count = 0;
            return false;
        }

        prefix = match.Groups["prefix"].Value;
        number = int.Parse(match.Groups["no"].Value, CultureInfo.InvariantCulture);
        count = int.Parse(match.Groups["count"].Value, CultureInfo.InvariantCulture);
        return number >= 1 && count >= 1 && number <= count;
    }

    /// <summary>The name of shard <paramref name="number"/> (1-based), as llama.cpp's llama_split_path writes it.</summary>
    public static string ShardName(string prefix, int number, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}-{number:D5}-of-{count:D5}.gguf");

    /// <summary>The split.count a header declares, or 0 when it is not part of a split model.</summary>
    public static int DeclaredCount(GgufHeader header) => (int)Math.Clamp(header.Metadata.GetInteger(CountKey) ?? 0, 0, ushort.MaxValue);

    /// <summary>
    /// Checks that shard headers (in order) form one model: each has split.no = its index and
    /// the same split.count, tensor names are unique across shards, and the total equals
    /// split.tensors.count. Returns the merged tensor table with each tensor's shard index.
    /// </summary>
    public static IReadOnlyList<GgufTensorInfo> Merge(IReadOnlyList<GgufHeader> shards, IReadOnlyList<string> locations)
    {
        var count = shards.Count;
        var merged = new List<GgufTensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var metadata = shards[i].Metadata;
            var no = metadata.GetInteger(NoKey);
            var declared = metadata.GetInteger(CountKey);
            if (no != i || declared != count)
            {
                throw new GgufException(GgufErrorKind.SplitMismatch,
                    $"{locations[i]}: expected shard {i + 1} of {count}, but it says split.no = {no?.ToString(CultureInfo.InvariantCulture) ?? "(none)"} (0-based) and split.count = {declared?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}.",
                    locations[i]);
            }

            foreach (var tensor in shards[i].Tensors)
            {
                if (!names.Add(tensor.Name))
                {
                    throw new GgufException(GgufErrorKind.DuplicateTensorName,
                        $"{locations[i]}: tensor '{tensor.Name}' is also in an earlier shard.", locations[i], subject: tensor.Name);
                }

                merged.Add(tensor.WithShard(i));
            }
        }

        var expected = shards[0].Metadata.GetInteger(TensorsCountKey);
        if (expected is not null && expected != merged.Count)
        {
            throw new GgufException(GgufErrorKind.SplitMismatch,
                $"{locations[0]}: split.tensors.count is {expected}, but the {count} shards hold {merged.Count} tensors.", locations[0]);
        }

        return merged;
    }
}
