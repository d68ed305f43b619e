using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.TestSupport;

/// <summary>
/// Mixture-of-experts models made from synth-256 (golden README section 1) with the GGUF writer, for comparing with
/// llama.cpp (Inference/Data/README.md says how the reference logits were made). Each layer's dense ffn_gate, ffn_up
/// and ffn_down become <see cref="Variant.Experts"/> experts, expert e built from the dense F16 rows (no rounding) by
/// cyclic shifts that grow with e: gate rows by 97e, up rows by 41e, down rows by 13e and down columns by 97e (and only
/// the first <see cref="Variant.Width"/> of each); expert 0 of llama-moe is the dense block itself. The router
/// ffn_gate_inp.weight (F32, [256, experts]) is 0.15 sin(0.37 i + 1.3 e + 0.7 l) + 0.05 cos(0.11 i e).
/// <list type="bullet">
/// <item>llama-moe: arch llama with llama.expert_count 4 and expert_used_count 2 (Mixtral's layout), experts 512 wide;
/// llama-moe8 the same with Mixtral's 8 experts;</item>
/// <item>qwen3moe: <see cref="SyntheticArchitectures"/>' qwen3 model (per-head Q/K norms) as qwen3moe with 8 experts,
/// 3 used, qwen3moe.expert_feed_forward_length 256;</item>
/// <item>qwen2moe: its qwen2 model (Q/K/V biases) as qwen2moe with 8 experts, 2 used, 256 wide, and a shared expert:
/// the dense block itself (ffn_gate/up/down_shexp, expert_shared_feed_forward_length 512) with
/// ffn_gate_inp_shexp.weight (F32, [256]) 0.2 sin(0.29 i + l) + 0.02, whose sigmoid scales it;</item>
/// <item>phimoe: llama-moe's experts as phimoe (phi3's graph: Q scaled before attention, LongRoPE factors as
/// <see cref="SyntheticArchitectures"/>' phi3 model has them) with the biases its loader requires: attn_norm, ffn_norm
/// and output_norm (0.05 sin(0.31 i + l)), attn_output (0.1 cos(0.17 i - l)) and output (0.5 sin(0.05 i)).</item>
/// </list>
/// </summary>
internal static class SyntheticExperts
{
    public sealed record Variant(string Name, string Architecture, int Experts, int Used, int Width);

    public static readonly Variant LlamaMoe = new("llama-moe", "llama", 4, 2, 512);

    public static readonly Variant Qwen3Moe = new("qwen3moe", "qwen3moe", 8, 3, 256);

    /// <summary>Mixtral's own counts (8 experts, 2 used), which llama-quantize's mixes treat specially.</summary>
    public static readonly Variant LlamaMoe8 = new("llama-moe8", "llama", 8, 2, 512);

    public static readonly Variant Qwen2Moe = new("qwen2moe", "qwen2moe", 8, 2, 256);

    public static readonly Variant PhiMoe = new("phimoe", "phimoe", 4, 2, 512);

    public static IReadOnlyList<Variant> Variants { get; } = [LlamaMoe, Qwen3Moe, LlamaMoe8, Qwen2Moe, PhiMoe];

    public static Variant Get(string name) => Variants.Single(v => v.Name == name);

    public static string Write(string folder, Variant variant)
    {
        var qwen = variant.Architecture is "qwen3moe" or "qwen2moe";
        var dense = variant.Architecture[..^3]; // qwen3moe -> qwen3
        var sourcePath = qwen
            ? SyntheticArchitectures.Write(Directory.CreateDirectory(Path.Combine(folder, dense + "-source")).FullName, dense)
            : SharedData.File(SyntheticArchitectures.Source);
        using var source = GgufModel.Open(sourcePath);
        var from = source.Metadata.GetString("general.architecture")!;
        var a = variant.Architecture;
        var entries = source.Metadata.Select(e =>
            e.Key == "general.architecture" ? GgufMetadataEntry.Of(e.Key, a)
            : e.Key.StartsWith(from + ".", StringComparison.Ordinal) ? new GgufMetadataEntry(a + e.Key[from.Length..], e.Type, e.Value)
            : e).ToList();
        entries.Add(GgufMetadataEntry.Of($"{a}.expert_count", (uint)variant.Experts));
        entries.Add(GgufMetadataEntry.Of($"{a}.expert_used_count", (uint)variant.Used));
        if (qwen)
        {
            entries.Add(GgufMetadataEntry.Of($"{a}.expert_feed_forward_length", (uint)variant.Width));
        }

        if (a == "qwen2moe")
        {
            entries.Add(GgufMetadataEntry.Of($"{a}.expert_shared_feed_forward_length", (uint)source.FindTensor("blk.0.ffn_gate.weight")!.Shape[1]));
        }

        var phi = a == "phimoe";
        if (phi)
        {
            var original = SyntheticArchitectures.Phi3OriginalContext;
            entries.Add(GgufMetadataEntry.Of($"{a}.rope.scaling.original_context_length", original));
            entries.Add(GgufMetadataEntry.Of($"{a}.rope.scaling.attn_factor", MathF.Sqrt(1f + (MathF.Log(2048f / original) / MathF.Log(original)))));
        }

        var specs = new List<GgufTensorSpec>();
        var data = new List<byte[]>();
        foreach (var tensor in source.Tensors)
        {
            var name = tensor.Name;
            if (phi)
            {
                AddPhiExtras(name, specs, data);
            }

            if (name.EndsWith(".ffn_gate.weight", StringComparison.Ordinal) || name.EndsWith(".ffn_up.weight", StringComparison.Ordinal))
            {
                continue;
            }

            if (!name.EndsWith(".ffn_down.weight", StringComparison.Ordinal))
            {
                specs.Add(new GgufTensorSpec(name, tensor.Type, tensor.Shape));
                data.Add(source.GetTensorData(tensor).ToArray());
                continue;
            }

            var layer = int.Parse(name.Split('.')[1], CultureInfo.InvariantCulture);
            var p = $"blk.{layer}.";
            AddExperts(source, variant, layer, p, specs, data);
        }

        var path = Path.Combine(folder, $"synth-256-{variant.Name}.gguf");
        GgufWriter.Write(path, entries, specs, i => data[i], overwrite: true); // deterministic: a rewrite is the same file
        return path;
    }

    // phimoe's required biases beside the tensor they follow, and phi3's LongRoPE factor pair beside output.weight.
    private static void AddPhiExtras(string name, List<GgufTensorSpec> specs, List<byte[]> data)
    {
        var layer = name.StartsWith("blk.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[1], CultureInfo.InvariantCulture) : 0;
        var bias = name.Replace(".weight", ".bias", StringComparison.Ordinal);
        if (name.EndsWith(".attn_norm.weight", StringComparison.Ordinal) || name.EndsWith(".ffn_norm.weight", StringComparison.Ordinal))
        {
            Add(bias, 256, i => 0.05f * MathF.Sin((0.31f * i) + layer));
        }
        else if (name.EndsWith(".attn_output.weight", StringComparison.Ordinal))
        {
            Add(bias, 256, i => 0.1f * MathF.Cos((0.17f * i) - layer));
        }

        if (name == "output_norm.weight")
        {
            Add("output_norm.bias", 256, i => 0.05f * MathF.Sin(0.31f * i));
        }
        else if (name == "output.weight")
        {
            Add("output.bias", 512, i => 0.5f * MathF.Sin(0.05f * i));
            Add("rope_factors_long.weight", 32, i => 1.5f + MathF.Sin(0.7f * i));
            Add("rope_factors_short.weight", 32, i => 1f + (0.1f * MathF.Cos(0.3f * i)));
        }

        void Add(string tensor, int length, Func<int, float> value)
        {
            var values = Enumerable.Range(0, length).Select(value).ToArray();
            var raw = new byte[length * sizeof(float)];
            Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
            specs.Add(new GgufTensorSpec(tensor, GgmlType.F32, [length]));
            data.Add(raw);
        }
    }

    private static void AddExperts(GgufModel source, Variant variant, int layer, string p, List<GgufTensorSpec> specs, List<byte[]> data)
    {
        var gate = source.FindTensor(p + "ffn_gate.weight")!;
        var down = source.FindTensor(p + "ffn_down.weight")!;
        var d = (int)gate.Shape[0];
        var ff = (int)gate.Shape[1];
        int n = variant.Experts, w = variant.Width;

        var router = new float[n * d];
        for (var e = 0; e < n; e++)
        {
            for (var i = 0; i < d; i++)
            {
                router[(e * d) + i] = (0.15f * MathF.Sin((0.37f * i) + (1.3f * e) + (0.7f * layer))) + (0.05f * MathF.Cos(0.11f * i * e));
            }
        }

        var routerBytes = new byte[router.Length * sizeof(float)];
        Buffer.BlockCopy(router, 0, routerBytes, 0, routerBytes.Length);
        specs.Add(new GgufTensorSpec(p + "ffn_gate_inp.weight", GgmlType.F32, [d, n]));
        data.Add(routerBytes);

        // F16 values: a row of c values is 2c bytes.
        byte[] Rows(string tensor, int rowValues, int rowsPerExpert, int sourceRows, int rowShift, int columns, int columnShift)
        {
            var bytes = source.GetTensorData(source.FindTensor(p + tensor)!).ToArray();
            var result = new byte[n * rowsPerExpert * columns * 2];
            var o = 0;
            for (var e = 0; e < n; e++)
            {
                for (var r = 0; r < rowsPerExpert; r++)
                {
                    var row = (r + (rowShift * e)) % sourceRows;
                    for (var c = 0; c < columns; c++)
                    {
                        var column = (c + (columnShift * e)) % rowValues;
                        result[o++] = bytes[(((long)row * rowValues) + column) * 2];
                        result[o++] = bytes[((((long)row * rowValues) + column) * 2) + 1];
                    }
                }
            }

            return result;
        }

        specs.Add(new GgufTensorSpec(p + "ffn_gate_exps.weight", gate.Type, [d, w, n]));
        data.Add(Rows("ffn_gate.weight", d, w, ff, 97, d, 0));
        specs.Add(new GgufTensorSpec(p + "ffn_up_exps.weight", gate.Type, [d, w, n]));
        data.Add(Rows("ffn_up.weight", d, w, ff, 41, d, 0));
        specs.Add(new GgufTensorSpec(p + "ffn_down_exps.weight", down.Type, [w, d, n]));
        data.Add(Rows("ffn_down.weight", ff, d, d, 13, w, 97));
        if (variant.Architecture != "qwen2moe")
        {
            return;
        }

        var gateInput = new float[d];
        for (var i = 0; i < d; i++)
        {
            gateInput[i] = (0.2f * MathF.Sin((0.29f * i) + layer)) + 0.02f;
        }

        var gateInputBytes = new byte[d * sizeof(float)];
        Buffer.BlockCopy(gateInput, 0, gateInputBytes, 0, gateInputBytes.Length);
        specs.Add(new GgufTensorSpec(p + "ffn_gate_inp_shexp.weight", GgmlType.F32, [d]));
        data.Add(gateInputBytes);
        foreach (var part in (string[])["gate", "up", "down"])
        {
            var dense = source.FindTensor($"{p}ffn_{part}.weight")!;
            specs.Add(new GgufTensorSpec($"{p}ffn_{part}_shexp.weight", dense.Type, dense.Shape));
            data.Add(source.GetTensorData(dense).ToArray());
        }
    }
}
