using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Tests.Engine;

/// <summary>
/// Random tiny models (<see cref="TinyModel"/>) of every supported architecture and a few weight types, with one to
/// three edits that make them inconsistent: hyperparameters replaced by extremes, neighbours' values, other types or
/// arrays, removed, or added where absent; tensors dropped, added, reshaped or retyped. Deterministic per seed.
/// </summary>
internal static class ModelMutator
{
    private static readonly string[] Dense = ["llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2"];
    private static readonly string[] Moe = ["llama", "qwen2moe", "qwen3moe", "phimoe"];
    private static readonly GgmlType[] SmallTypes = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0];
    private static readonly GgmlType[] AnyTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q8_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K,
        GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.I8, GgmlType.I32, GgmlType.F64,
    ];

    // Keys a model may have without them: each is added now and then.
    private static readonly string[] OptionalKeys =
    [
        "attention.key_length", "attention.value_length", "rope.dimension_count", "vocab_size", "attention.sliding_window",
        "attention.sliding_window_pattern", "expert_count", "expert_used_count", "expert_feed_forward_length",
        "expert_shared_feed_forward_length", "expert_group_count", "rope.scaling.type", "rope.scaling.factor",
        "rope.scale_linear", "rope.scaling.original_context_length", "rope.scaling.attn_factor", "attention.scale",
        "rope.freq_base_swa", "attn_logit_softcapping", "final_logit_softcapping", "attention.head_count_kv",
    ];

    // Tensors a model of some architecture may have beside its own.
    private static readonly string[] ExtraTensors =
    [
        "output.weight", "rope_freqs.weight", "rope_factors_long.weight", "output.bias", "blk.0.attn_qkv.weight",
        "blk.0.attn_q.bias", "blk.0.attn_output.bias", "blk.0.attn_q_norm.weight", "blk.1.ffn_gate.weight",
        "blk.0.ffn_gate_inp.weight", "blk.5.attn_q.weight",
    ];

    private static readonly long[] Extremes =
    [
        0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128, 129, 192, 255, 256, 257, 512, 1024, 1025,
        4096, 65536, 1 << 24, int.MaxValue, 1L << 31, uint.MaxValue, (1L << 32) + 16, 1L << 40, long.MaxValue, -1, -16, int.MinValue,
    ];

    private static readonly float[] FloatExtremes =
        [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, -1f, 1e-30f, 1e30f, 0.5f, 2f, float.Epsilon, float.MaxValue];

    private static readonly string[] Strings = ["none", "linear", "yarn", "longrope", "bogus", ""];

    /// <summary>
    /// A valid tiny model for <paramref name="random"/>'s next draw: any architecture, and shapes from the smallest
    /// (one head of two values, a three-token vocabulary) to odd widths that leave every kernel a tail to handle
    /// (float types take any width; block types whole blocks).
    /// </summary>
    public static TinyModel Base(Random random)
    {
        var moe = random.Next(3) == 0;
        var arch = moe ? Moe[random.Next(Moe.Length)] : Dense[random.Next(Dense.Length)];
        var type = random.Next(6) == 0 ? (random.Next(2) == 0 ? GgmlType.Q4_K : GgmlType.Q6_K) : SmallTypes[random.Next(SmallTypes.Length)];
        var block = type is GgmlType.Q4_K or GgmlType.Q6_K ? 256 : type is GgmlType.Q8_0 or GgmlType.Q4_0 ? 32 : 1;
        int Width(int max) => block == 1 ? 1 + random.Next(max) : block * (1 + random.Next(Math.Max(1, max / block)));
        var heads = new[] { 1, 1, 2, 3, 4, 4, 8, 16 }[random.Next(8)];
        var divisors = Enumerable.Range(1, heads).Where(k => heads % k == 0).ToArray();
        var kvHeads = divisors[random.Next(divisors.Length)];
        var headDim = new[] { 2, 4, 6, 8, 16, 18, 32, 64, 80, 128, 256 }[random.Next(11)];
        while (headDim * heads % block != 0)
        {
            headDim += 2; // the query width (attn_output's rows) must be whole blocks
        }

        var embedding = random.Next(2) == 0 && headDim * heads <= 256 ? headDim * heads : Width(96);
        var experts = arch is "qwen2moe" or "qwen3moe" ? 1 + random.Next(8) : 1 + random.Next(4);
        var spec = new TinySpec(arch, type)
        {
            Embedding = embedding,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDimension = headDim,
            FeedForward = Width(160),
            Vocabulary = random.Next(4) == 0 ? 3 + random.Next(8) : 32 + random.Next(200),
            Layers = 1 + random.Next(2),
            ContextLength = random.Next(4) == 0 ? 1 + random.Next(40) : 256,
            Experts = moe ? experts : 0,
            ExpertsUsed = moe ? 1 + random.Next(experts) : 0,
            ExpertWidth = moe ? Width(160) : 0,
        };
        return new TinyModel(spec);
    }

    /// <summary>A base model with one to three edits; <paramref name="edits"/> says what they were.</summary>
    public static TinyModel Mutant(Random random, out string edits)
    {
        var model = Base(random);
        var done = new List<string> { $"{model.Spec}" };
        var count = 1 + random.Next(3);
        for (var i = 0; i < count; i++)
        {
            done.Add(Edit(model, random));
        }

        edits = string.Join("; ", done);
        return model;
    }

    private static string Edit(TinyModel model, Random random)
    {
        var a = model.Spec.Architecture;
        var own = model.Metadata.Where(e => e.Key.StartsWith(a + ".", StringComparison.Ordinal)).ToList();
        switch (random.Next(11))
        {
            case 0:
            case 1:
            case 2:
            {
                var key = own[random.Next(own.Count)].Key;
                var value = Value(model, random, key);
                model.Set(key, value);
                return $"{key} = {Describe(value)}";
            }

            case 3:
            {
                var key = a + "." + OptionalKeys[random.Next(OptionalKeys.Length)];
                var value = Value(model, random, key);
                model.Set(key, value);
                return $"{key} = {Describe(value)}";
            }

            case 4:
            {
                var key = random.Next(8) == 0 ? "tokenizer.ggml.tokens" : own[random.Next(own.Count)].Key;
                if (key == "tokenizer.ggml.tokens")
                {
                    // A vocabulary one token shorter or longer than the embedding's rows.
                    var tokens = model.Metadata.First(e => e.Key == key).Value as GgufArray;
                    var items = ((string[])tokens!.Items).ToList();
                    if (random.Next(2) == 0 && items.Count > 3)
                    {
                        items.RemoveAt(items.Count - 1);
                    }
                    else
                    {
                        items.Add("\u2581extra");
                    }

                    model.Set(key, new GgufArray(GgufValueType.String, items.ToArray()));
                    model.Remove("tokenizer.ggml.scores");
                    model.Remove("tokenizer.ggml.token_type");
                    return $"{items.Count} tokens";
                }

                model.Remove(key);
                return $"removed {key}";
            }

            case 5:
            {
                var name = model.Tensors[random.Next(model.Tensors.Count)].Name;
                model.Drop(name);
                return $"dropped {name}";
            }

            case 6:
            case 7:
            {
                var tensor = model.Tensors[random.Next(model.Tensors.Count)];
                var shape = Reshape(tensor.Shape, random);
                var type = FittingType(tensor.Type, shape);
                model.Change(tensor.Name, type, shape);
                return $"{tensor.Name} [{string.Join(", ", shape)}] {type}";
            }

            case 8:
            {
                var tensor = model.Tensors[random.Next(model.Tensors.Count)];
                var type = AnyTypes[random.Next(AnyTypes.Length)];
                if (tensor.Shape.Count == 0 || tensor.Shape[0] % GgmlTypeTraits.Get(type).BlockSize != 0)
                {
                    return $"{tensor.Name} kept (rows do not fit {type})";
                }

                model.Change(tensor.Name, type);
                return $"{tensor.Name} as {type}";
            }

            case 9:
            {
                // Heads x key_length that wraps around 2^32 to the real query width: consistent with every tensor in
                // int arithmetic, absurd in fact.
                var heads = model.Spec.Heads;
                if (heads < 4 || (heads & (heads - 1)) != 0)
                {
                    return "no wrap for " + heads + " heads";
                }

                var length = (uint)(model.Spec.HeadDimension + (int)(1L << 32 >> (int)Math.Log2(heads)));
                model.Set(a + ".attention.key_length", length);
                model.Set(a + ".attention.value_length", length);
                model.Remove(a + ".rope.dimension_count");
                return $"key_length {length}";
            }

            default:
            {
                var name = ExtraTensors[random.Next(ExtraTensors.Length)];
                if (model.Tensors.Any(t => t.Name == name))
                {
                    model.Drop(name);
                    return $"dropped {name}";
                }

                // Shaped like a tensor of the model, or a vector of some width.
                var like = model.Tensors[random.Next(model.Tensors.Count)];
                var shape = random.Next(2) == 0 ? like.Shape.ToArray() : [Extremes[random.Next(18)]];
                var type = FittingType(random.Next(2) == 0 ? like.Type : GgmlType.F32, shape);
                model.Tensors.Add(new GgufTensorSpec(name, type, shape));
                return $"added {name} [{string.Join(", ", shape)}] {type}";
            }
        }
    }

    // An integer-ish key gets extremes, a neighbour's value, +-1, x2 or /2, sometimes another wire type or an array;
    // a float key non-finite and odd values; a string key other strings.
    private static object Value(TinyModel model, Random random, string key)
    {
        var current = model.Metadata.FirstOrDefault(e => e.Key == key)?.Value;
        var ints = model.Metadata.Where(e => e.Value is uint).Select(e => (long)(uint)e.Value).ToArray();
        var roll = random.Next(20);
        if (roll == 0)
        {
            return Strings[random.Next(Strings.Length)];
        }

        if (roll == 1)
        {
            return random.Next(2) == 0;
        }

        if (roll == 2)
        {
            // A per-layer array: uniform, uneven, empty, or of the wrong element type.
            var n = model.Spec.Layers + random.Next(3) - 1;
            var v = (uint)ints[random.Next(ints.Length)];
            return random.Next(5) switch
            {
                0 => new GgufArray(GgufValueType.UInt32, Enumerable.Range(0, Math.Max(0, n)).Select(i => v + (uint)i).ToArray()),
                1 => new GgufArray(GgufValueType.String, new[] { "a", "b" }),
                2 => new GgufArray(GgufValueType.Float32, new[] { 1.5f, float.NaN }),
                3 => new GgufArray(GgufValueType.UInt64, new[] { ulong.MaxValue }),
                _ => new GgufArray(GgufValueType.UInt32, Enumerable.Repeat(v, Math.Max(0, n)).ToArray()),
            };
        }

        if (current is float f || (current is null && (key.Contains("scale", StringComparison.Ordinal) || key.Contains("softcap", StringComparison.Ordinal) || key.Contains("freq", StringComparison.Ordinal))))
        {
            return random.Next(4) == 0 ? (object)(double)FloatExtremes[random.Next(FloatExtremes.Length)] : FloatExtremes[random.Next(FloatExtremes.Length)];
        }

        if (current is string || key.EndsWith("scaling.type", StringComparison.Ordinal))
        {
            return Strings[random.Next(Strings.Length)];
        }

        long value = random.Next(4) switch
        {
            0 => ints[random.Next(ints.Length)],
            1 => current is uint u ? u + (random.Next(2) * 2) - 1 : 1,
            2 => current is uint u2 ? (random.Next(2) == 0 ? u2 * 2 : u2 / 2) : 2,
            _ => Extremes[random.Next(Extremes.Length)],
        };
        return random.Next(6) switch
        {
            0 => value, // Int64
            1 => (ulong)value,
            2 => (int)value,
            3 => (ushort)value,
            _ => (uint)value,
        };
    }

    private static long[] Reshape(IReadOnlyList<long> shape, Random random)
    {
        var s = shape.ToList();
        var at = random.Next(s.Count);
        switch (random.Next(7))
        {
            case 0: s[at] = Math.Max(0, s[at] + (random.Next(2) * 2) - 1); break;
            case 1: s[at] *= 2; break;
            case 2: s[at] /= 2; break;
            case 3: s[at] = 0; break;
            case 4: s.Reverse(); break;
            case 5: s.Add(1 + random.Next(2)); break;
            default: if (s.Count > 1) { s.RemoveAt(s.Count - 1); } else { s[at] = 1; } break;
        }

        return s.ToArray();
    }

    // The type itself when its blocks fit the rows, else F32 (the writer would refuse a row of partial blocks).
    private static GgmlType FittingType(GgmlType type, IReadOnlyList<long> shape) =>
        shape.Count > 0 && shape[0] % GgmlTypeTraits.Get(type).BlockSize == 0 ? type : GgmlType.F32;

    private static string Describe(object value) => value switch
    {
        GgufArray array => $"[{string.Join(", ", array.Items.Cast<object>().Take(4))}] ({array.ElementType})",
        _ => $"{value} ({value.GetType().Name})",
    };
}
