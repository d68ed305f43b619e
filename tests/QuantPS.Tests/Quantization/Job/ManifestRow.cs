using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>A row of golden/quantized/MANIFEST.tsv turned into our inputs (README section 3).</summary>
public sealed record ManifestRow(string Input, string Output, string Arguments, string Sha256, long Size, string Status, string StoredAt)
{
    public const string ManifestPath = "golden/quantized/MANIFEST.tsv";

    public bool Ok => Status == "ok";

    /// <summary>Rows by output name; empty when ../shared is absent (the tests then skip through SharedData).</summary>
    public static IReadOnlyList<ManifestRow> All()
    {
        var root = Environment.GetEnvironmentVariable("QUANTPS_SHARED") is { Length: > 0 } env ? env : Path.Combine(SharedData.RepoRoot, "..", "shared");
        var path = Path.Combine(root, ManifestPath);
        if (!File.Exists(path))
        {
            return Array.Empty<ManifestRow>();
        }

        return File.ReadAllLines(path).Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t'))
            .Select(f => new ManifestRow(f[0], f[1], f[2], f[3], long.TryParse(f[4], out var n) ? n : 0, f[5], f[6])).ToList();
    }

    public static ManifestRow Find(string output) => All().Single(r => r.Output == output);

    /// <summary>The input file under ../shared: the model, or for requantize rows an earlier output.</summary>
    public string InputFile
    {
        get
        {
            var marker = Arguments.IndexOf('<');
            if (marker < 0) return SharedData.File(Input); // relative to shared/ for both models
            var name = Arguments[(marker + 1)..Arguments.IndexOf(" as input>", StringComparison.Ordinal)];
            var model = name.StartsWith("synth-256", StringComparison.Ordinal) ? "synth-256" : "stories260K";
            return SharedData.File($"golden/quantized/{model}/{name}");
        }
    }

    /// <summary>The type name: the last word of the arguments.</summary>
    public string TypeName => Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1];

    /// <summary>The llama-quantize flags as our options; the imatrix path is recorded as given (relative to golden/).</summary>
    public QuantizeOptions Options()
    {
        var words = Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var tensorTypes = new List<KeyValuePair<string, GgmlType>>();
        bool pure = false, leave = false, requant = false;
        GgmlType? output = null, embedding = null;
        string? imatrix = null;
        for (int i = 0; i < words.Length - 1; i++)
        {
            switch (words[i])
            {
                case "--pure": pure = true; break;
                case "--leave-output-tensor": leave = true; break;
                case "--allow-requantize": requant = true; break;
                case "--imatrix": imatrix = words[++i]; break;
                case "--output-tensor-type": output = Parse(words[++i]); break;
                case "--token-embedding-type": embedding = Parse(words[++i]); break;
                case "--tensor-type":
                    var kv = words[++i].Split('=');
                    tensorTypes.Add(new(kv[0], Parse(kv[1])));
                    break;
            }
        }

        return new QuantizeOptions
        {
            Pure = pure,
            LeaveOutputTensor = leave,
            AllowRequantize = requant,
            OutputTensorType = output,
            TokenEmbeddingType = embedding,
            TensorTypes = tensorTypes,
            ImportanceMatrix = imatrix is null ? null : ImportanceMatrix.Load(SharedData.File("golden/" + imatrix)),
            ImportanceMatrixPath = imatrix,
            Threads = 2,
        };
    }

    private static GgmlType Parse(string name) =>
        GgmlTypeTraits.TryParse(name, out var info) ? info.Type : throw new ArgumentException("unknown type " + name);

    public override string ToString() => Output;
}
