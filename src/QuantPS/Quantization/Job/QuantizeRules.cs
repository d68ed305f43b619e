using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>Broad tensor roles llama.cpp's type rules distinguish (by name, not by architecture).</summary>
internal enum TensorCategory { Other, Output, TokenEmbedding, AttentionQkv, AttentionKvB, AttentionV, AttentionK, AttentionQ, AttentionOutput, FfnUp, FfnGate, FfnDown }

/// <summary>The model facts the rules look at.</summary>
internal sealed record ModelFacts(string Architecture, int LayerCount, int Gqa, int ExpertCount, bool Is70B);

/// <summary>
/// llama.cpp's per-tensor type selection (llama-quant.cpp: llama_tensor_get_type and its helpers).
/// It is stateful: counters advance in the order tensors are visited (name order), which is why
/// "layer" positions here are visit positions, exactly as in llama.cpp.
/// </summary>
internal sealed class QuantizeRules
{
    private readonly ModelFacts _model;
    private readonly QuantizeFileType _ftype;
    private readonly QuantizeOptions _options;
    private readonly bool _hasImatrix;
    private readonly List<(System.Text.RegularExpressions.Regex Pattern, GgmlType Type)> _overrides;
    private readonly int _nAttentionWv;
    private readonly bool _tiedEmbeddings;
    private int _iAttentionWv, _iFfnDown, _iFfnGate, _iFfnUp;

    public QuantizeRules(ModelFacts model, QuantizeFileType ftype, QuantizeOptions options, bool hasImatrix, IEnumerable<string> names)
    {
        _model = model;
        _ftype = ftype;
        _options = options;
        _hasImatrix = hasImatrix;
        _overrides = options.TensorTypes
            .Select(p => (new System.Text.RegularExpressions.Regex(p.Key.ToLowerInvariant(),
                System.Text.RegularExpressions.RegexOptions.ECMAScript | System.Text.RegularExpressions.RegexOptions.CultureInvariant), p.Value))
            .ToList();
        var categories = names.Select(CategoryOf).ToList();
        _nAttentionWv = categories.Count(IsAttentionV);
        _tiedEmbeddings = !categories.Contains(TensorCategory.Output);
    }

    /// <summary>Tensors that needed a fallback type because their rows do not fit the block size.</summary>
    public int FallbackCount { get; private set; }

    public static TensorCategory CategoryOf(string name)
    {
        if (name == "output.weight") return TensorCategory.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return TensorCategory.TokenEmbedding;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal)) return TensorCategory.AttentionQkv;
        if (name.Contains("attn_kv_b.weight", StringComparison.Ordinal)) return TensorCategory.AttentionKvB;
        if (name.Contains("attn_v.weight", StringComparison.Ordinal)) return TensorCategory.AttentionV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return TensorCategory.AttentionK;
        if (name.Contains("attn_q.weight", StringComparison.Ordinal)) return TensorCategory.AttentionQ;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return TensorCategory.AttentionOutput;
        if (name.Contains("ffn_up", StringComparison.Ordinal)) return TensorCategory.FfnUp;
        if (name.Contains("ffn_gate", StringComparison.Ordinal)) return TensorCategory.FfnGate;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return TensorCategory.FfnDown;
        return TensorCategory.Other;
    }

    private static bool IsAttentionV(TensorCategory c) => c is TensorCategory.AttentionV or TensorCategory.AttentionQkv or TensorCategory.AttentionKvB;

    private static readonly string[] NeverQuantized =
    {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
        "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
        ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
    };

    /// <summary>Whether llama.cpp would quantize this tensor at all (2-D+, a weight, not a norm ...).</summary>
    public bool AllowsQuantization(string name, int dims)
    {
        if (_ftype.IsCopy || dims < 2 || !name.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (_options.LeaveOutputTensor && name == "output.weight") return false;
        if (name is "position_embd.weight" or "token_types.weight") return false;
        return !NeverQuantized.Any(p => name.Contains(p, StringComparison.Ordinal));
    }

    /// <summary>The output type of a quantizable tensor; advances the counters like llama.cpp.</summary>
    /// <exception cref="QuantizationException">No fallback exists for the row length (QuantizeNoTypeFallback).</exception>
    public GgmlType TypeFor(string name, IReadOnlyList<long> shape, GgmlType current, out bool fellBack)
    {
        fellBack = false;
        var category = CategoryOf(name);
        if (_options.TokenEmbeddingType is { } te && category == TensorCategory.TokenEmbedding) return te;
        if (_options.OutputTensorType is { } ot && category == TensorCategory.Output) return ot;

        var type = _ftype.DefaultType;
        if (!GgmlTypeTraits.Get(type).IsQuantized) return type;

        bool manual = false;
        foreach (var (pattern, t) in _overrides)
        {
            if (pattern.IsMatch(name))
            {
                type = t;
                manual = true;
                break;
            }
        }

        if (!manual && !_options.Pure) type = Mix(type, name, shape, category);
        return Fallback(name, shape[0], type, out fellBack);
    }

    private GgmlType Fallback(string name, long columns, GgmlType target, out bool fellBack)
    {
        fellBack = false;
        long block = GgmlTypeTraits.Get(target).BlockSize;
        if (columns % block == 0) return target;
        fellBack = true;
        FallbackCount++;
        GgmlType result = target switch
        {
            GgmlType.IQ1_S or GgmlType.IQ1_M or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S
                or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ4_XS => GgmlType.IQ4_NL,
            GgmlType.Q2_0 or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.TQ1_0 or GgmlType.TQ2_0 => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new QuantizationException(QuantizeErrorIds.NoFallback,
                $"no tensor type fallback is defined for type {GgmlTypeTraits.Get(target).GgmlName}: {name} has rows of {columns} values, " +
                $"not a multiple of its block size {block}. Choose a type for it, e.g. -TensorType @{{'{ShortName(name)}'='f16'}}."),
        };
        return columns % GgmlTypeTraits.Get(result).BlockSize != 0 ? GgmlType.F16 : result;
    }

    private static string ShortName(string name)
    {
        var parts = name.Split('.');
        return parts.Length >= 3 && parts[0] == "blk" ? parts[2] : parts[0];
    }

    private static bool UseMoreBits(int i, int n) => i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;

    private int LayerOf(int counter, string name)
    {
        if (_model.ExpertCount <= 1) return counter;
        // With experts the counters are unreliable; llama.cpp reads the layer from the name.
        var parts = name.Split('.');
        if (parts.Length < 2 || parts[0] != "blk" || !int.TryParse(parts[1], out var layer))
            throw new QuantizationException(QuantizeErrorIds.NotQuantizable, $"Failed to determine layer for tensor {name}");
        if (layer < 0 || layer >= _model.LayerCount)
            throw new QuantizationException(QuantizeErrorIds.NotQuantizable, $"Bad layer {layer} for tensor {name}. Must be in [0, {_model.LayerCount})");
        return layer;
    }

    private bool Is(params string[] names) => names.Contains(_ftype.Name switch { "Q3_K" => "Q3_K_M", "Q4_K" => "Q4_K_M", "Q5_K" => "Q5_K_M", var n => n });

    // llama_tensor_get_type_impl.
    private GgmlType Mix(GgmlType t, string name, IReadOnlyList<long> shape, TensorCategory c)
    {
        bool falcon = _model.Architecture == "falcon";
        int nLayer = _model.LayerCount, gqa = _model.Gqa, nExpert = _model.ExpertCount;
        if (c == TensorCategory.Output || (_tiedEmbeddings && c == TensorCategory.TokenEmbedding))
        {
            if (_options.OutputTensorType is { } ot) return ot;
            long block = GgmlTypeTraits.Get(t).BlockSize;
            if (Is("MXFP4_MOE") || falcon || shape[0] % block != 0) return GgmlType.Q8_0;
            if (Is("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")) return GgmlType.Q5_K;
            return t != GgmlType.Q8_0 ? GgmlType.Q6_K : t;
        }

        if (Is("MXFP4_MOE")) return shape.Count > 2 && shape[2] > 1 ? GgmlType.MXFP4 : GgmlType.Q8_0;

        if (c == TensorCategory.TokenEmbedding)
        {
            if (_options.TokenEmbeddingType is { } te) return te;
            if (Is("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M")) return GgmlType.Q2_K;
            if (Is("IQ2_S", "IQ2_M", "IQ3_XXS")) return GgmlType.IQ3_S;
            if (Is("TQ1_0", "TQ2_0", "Q2_0")) return GgmlType.Q4_K;
            return t;
        }

        if (Is("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"))
        {
            bool s = Is("IQ2_S", "IQ2_M");
            if (IsAttentionV(c))
            {
                t = gqa >= 4 || nExpert >= 4 ? GgmlType.Q4_K : s ? GgmlType.IQ3_S : GgmlType.Q2_K;
                _iAttentionWv++;
            }
            else if (nExpert == 8 && c == TensorCategory.AttentionK) t = GgmlType.Q4_K;
            else if (c == TensorCategory.FfnDown)
            {
                if (_iFfnDown < nLayer / 8) t = s ? GgmlType.IQ3_S : GgmlType.Q2_K;
                _iFfnDown++;
            }
            else if (c == TensorCategory.AttentionOutput)
            {
                if (nExpert == 8) t = GgmlType.Q5_K;
                else if (Is("IQ1_S", "IQ1_M")) t = GgmlType.IQ2_XXS;
                else if (s) t = GgmlType.IQ3_S;
            }

            return t;
        }

        if (IsAttentionV(c))
        {
            if (Is("Q2_K")) t = gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (Is("Q2_K_S") && gqa >= 4) t = GgmlType.Q4_K;
            else if (Is("IQ3_XXS")) t = gqa >= 4 ? GgmlType.Q4_K : !_hasImatrix ? GgmlType.IQ3_S : GgmlType.IQ3_XXS;
            else if (Is("IQ3_XS", "IQ3_S") && gqa >= 4) t = GgmlType.Q4_K;
            else if (Is("IQ3_M")) t = GgmlType.Q4_K;
            else if (Is("Q3_K_M")) t = _iAttentionWv < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
            else if (Is("Q3_K_L")) t = GgmlType.Q5_K;
            else if (Is("IQ4_NL", "IQ4_XS") && gqa >= 4) t = GgmlType.Q5_K;
            else if (Is("Q4_K_M", "Q5_K_M") && UseMoreBits(_iAttentionWv, _nAttentionWv)) t = GgmlType.Q6_K;
            else if (Is("Q4_K_S") && _iAttentionWv < 4) t = GgmlType.Q5_K;
            if (_model.Is70B && t is GgmlType.Q3_K or GgmlType.Q4_K) t = GgmlType.Q5_K;
            if (nExpert == 8) t = GgmlType.Q8_0;
            _iAttentionWv++;
        }
        else if (c == TensorCategory.AttentionK)
        {
            if (nExpert == 8) t = GgmlType.Q8_0;
            else if (Is("IQ3_XS")) t = GgmlType.IQ3_XXS;
            else if (Is("IQ3_XXS")) t = GgmlType.IQ2_S;
        }
        else if (c == TensorCategory.AttentionQ)
        {
            if (Is("IQ3_XS")) t = GgmlType.IQ3_XXS;
            else if (Is("IQ3_XXS")) t = GgmlType.IQ2_S;
        }
        else if (c == TensorCategory.FfnDown)
        {
            int i = LayerOf(_iFfnDown, name), n = nLayer;
            if (Is("Q2_K")) t = GgmlType.Q3_K;
            else if (Is("Q2_K_S")) { if (i < n / 8) t = GgmlType.Q4_K; }
            else if (Is("IQ3_XXS") && !_hasImatrix) t = i < n / 8 ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (Is("Q3_K_M")) t = i < n / 16 ? GgmlType.Q5_K : !falcon || UseMoreBits(i, n) ? GgmlType.Q4_K : GgmlType.Q3_K;
            else if (Is("IQ3_M") && (i < n / 8 || (nExpert == 8 && UseMoreBits(i, n)))) t = GgmlType.Q4_K;
            else if (Is("Q3_K_L")) t = falcon ? GgmlType.Q4_K : GgmlType.Q5_K;
            else if (Is("Q4_K_M"))
            {
                if (falcon) t = i < n / 16 ? GgmlType.Q6_K : UseMoreBits(i, n) ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (UseMoreBits(i, n)) t = GgmlType.Q6_K;
            }
            else if (i < n / 8 && Is("IQ4_NL", "IQ4_XS") && !_hasImatrix) t = GgmlType.Q5_K;
            else if (Is("Q5_K_M") && UseMoreBits(i, n)) t = GgmlType.Q6_K;
            else if (Is("Q4_K_S") && !falcon && i < n / 8) t = GgmlType.Q5_K;
            else if (Is("Q4_0", "Q5_0") && _hasImatrix && i < n / 8) t = Is("Q4_0") ? GgmlType.Q4_1 : GgmlType.Q5_1;
            _iFfnDown++;
        }
        else if (c == TensorCategory.AttentionOutput)
        {
            if (!falcon)
            {
                if (nExpert == 8)
                {
                    if (Is("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS")) t = GgmlType.Q5_K;
                }
                else if (Is("Q2_K")) t = GgmlType.Q3_K;
                else if (Is("IQ3_XXS")) t = GgmlType.IQ3_S;
                else if (Is("Q3_K_M")) t = GgmlType.Q4_K;
                else if (Is("Q3_K_L")) t = GgmlType.Q5_K;
                else if (Is("IQ3_M")) t = GgmlType.Q4_K;
            }
            else if (Is("Q3_K_L")) t = GgmlType.Q4_K;
        }
        else if (c == TensorCategory.AttentionQkv)
        {
            if (Is("Q3_K_M", "Q3_K_L", "IQ3_M")) t = GgmlType.Q4_K;
            else if (Is("Q4_K_M")) t = GgmlType.Q5_K;
            else if (Is("Q5_K_M")) t = GgmlType.Q6_K;
        }
        else if (c == TensorCategory.FfnGate)
        {
            int i = LayerOf(_iFfnGate, name);
            if (Is("IQ3_XS") && i >= nLayer / 8 && i < 7 * nLayer / 8) t = GgmlType.IQ3_XXS;
            _iFfnGate++;
        }
        else if (c == TensorCategory.FfnUp)
        {
            int i = LayerOf(_iFfnUp, name);
            if (Is("IQ3_XS") && i >= nLayer / 8 && i < 7 * nLayer / 8) t = GgmlType.IQ3_XXS;
            _iFfnUp++;
        }

        return t;
    }

    /// <summary>llama.cpp's tensor_requires_imatrix.</summary>
    public bool RequiresImportance(string name, GgmlType target)
    {
        if (CategoryOf(name) is TensorCategory.Output || name is "token_embd.weight" or "per_layer_token_embd.weight") return false;
        return target switch
        {
            GgmlType.IQ3_XXS or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S or GgmlType.IQ1_M or GgmlType.IQ1_S => true,
            GgmlType.Q2_K => Is("Q2_K_S"),
            _ => false,
        };
    }
}
