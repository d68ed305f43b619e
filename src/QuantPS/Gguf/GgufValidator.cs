using System.Text.RegularExpressions;

namespace QuantPS.Gguf;

/// <summary>
/// The checks behind Test-Gguf: reads a file leniently so that every problem it can get past
/// is listed, then adds what llama.cpp would refuse and what merely looks wrong. Never throws
/// for file content: an unreadable file is one Error finding.
/// </summary>
public static partial class GgufValidator
{
    /// <summary>Strings or arrays beyond this are legal but suspicious: no real vocabulary or template needs them.</summary>
    public const long LargeValueBytes = 64L << 20;

    /// <summary>Jinja constructs that reach outside the template sandbox or pull in other files: none belongs in a chat template.</summary>
    [GeneratedRegex(@"__(class|mro|subclasses|globals|builtins|import|init|base|bases|dict|code|getattribute)__|\b(os|sys|subprocess|builtins)\s*\.\s*\w+|\b(eval|exec|popen|getattr|setattr)\s*\(|\|\s*attr\b|\{%-?\s*(import|include|extends|from)\b|\b(lipsum|cycler|joiner|self\._|request\.|config\.)", RegexOptions.CultureInvariant)]
    private static partial Regex SuspiciousTemplate();

    public static IReadOnlyList<GgufFinding> Validate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            using var model = GgufModel.Open(path, GgufParseMode.Lenient);
            return Inspect(model);
        }
        catch (GgufException e)
        {
            return [AsFinding(e)];
        }
    }

    /// <summary>The same checks for a remote file, reading only its header (and its shards' headers).</summary>
    public static IReadOnlyList<GgufFinding> Validate(Uri uri, GgufRemoteOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var lenient = new GgufRemoteOptions
        {
            HttpClient = options?.HttpClient,
            InitialRangeBytes = options?.InitialRangeBytes ?? GgufRemoteOptions.DefaultInitialRangeBytes,
            MaxHeaderBytes = options?.MaxHeaderBytes ?? GgufRemoteOptions.DefaultMaxHeaderBytes,
            Timeout = options?.Timeout ?? new GgufRemoteOptions().Timeout,
            BytesRead = options?.BytesRead,
            Mode = GgufParseMode.Lenient,
        };
        try
        {
            using var model = GgufModel.OpenRemote(uri, lenient, cancellationToken);
            return Inspect(model);
        }
        catch (GgufException e)
        {
            return [AsFinding(e)];
        }
    }

    /// <summary>The findings for a model that has been opened (leniently, to see everything).</summary>
    public static IReadOnlyList<GgufFinding> Inspect(GgufModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var findings = new List<GgufFinding>();
        foreach (var shard in model.Shards)
        {
            findings.AddRange(shard.Header.Findings);
        }

        CheckArchitecture(model, findings);
        CheckLargeArrays(model.Metadata, findings);
        CheckChatTemplates(model.Metadata, findings);
        return findings;
    }

    public static GgufFinding AsFinding(GgufException e) =>
        new(e.Kind.ToString(), GgufSeverity.Error, e.Subject, e.Message, e.Offset);

    private static void CheckArchitecture(GgufModel model, List<GgufFinding> findings)
    {
        if (model.Metadata.GetString("general.architecture") is null)
        {
            findings.Add(new GgufFinding("MissingArchitecture", GgufSeverity.Incompatible, "general.architecture",
                "general.architecture is missing: llama.cpp cannot load a model without it."));
        }
    }

    private static void CheckLargeArrays(GgufMetadata metadata, List<GgufFinding> findings)
    {
        foreach (var entry in metadata)
        {
            if (entry.Value is GgufArray array && EstimateBytes(array) is var bytes && bytes > LargeValueBytes)
            {
                findings.Add(new GgufFinding("LargeArray", GgufSeverity.Warning, entry.Key,
                    $"'{entry.Key}' is an array of {array.Count} {array.ElementType} values, about {bytes >> 20} MiB."));
            }
        }
    }

    private static long EstimateBytes(GgufArray array) => array.ElementType switch
    {
        GgufValueType.String => array.As<string>().Sum(s => 8L + s.Length),
        GgufValueType.Array => array.As<GgufArray>().Sum(a => 12L + EstimateBytes(a)),
        var t => (long)array.Count * GgufValueTypes.MinimumWireSize(t, v1: false),
    };

    private static void CheckChatTemplates(GgufMetadata metadata, List<GgufFinding> findings)
    {
        foreach (var entry in metadata)
        {
            if (!entry.Key.StartsWith("tokenizer.chat_template", StringComparison.Ordinal) || entry.Value is not string template)
            {
                continue;
            }

            foreach (var match in SuspiciousTemplate().Matches(template).Cast<Match>().DistinctBy(m => m.Value))
            {
                findings.Add(new GgufFinding("SuspiciousChatTemplate", GgufSeverity.Warning, entry.Key,
                    $"The chat template contains '{match.Value}' (at character {match.Index}): a construct that can escape a Jinja sandbox or load other files. Inspect the template before running this model in a server that renders it."));
            }
        }
    }
}
