/**
 * gpt-oss ({@code model_type} {@code gpt_oss}): {@link ai.parallax.models.gptoss.GptOssModel} is the forward pass.
 *
 * <h2>Design</h2>
 * <ul>
 *   <li><b>MXFP4 experts stay packed.</b> The checkpoint's {@code *_blocks} and {@code *_scales} (U8) are viewed as
 *       one MXFP4 matrix per expert ({@link ai.parallax.tensors.Mxfp4} defines the format and layout) and multiplied
 *       by a dedicated op, {@link ai.parallax.tensors.ops.Ops#matmulMxfp4}, rather than a block-scale companion on
 *       the weight tensor: a U8 tensor of packed nibbles is not a tensor of elements (its shape would lie about its
 *       width), and {@link ai.parallax.tensors.BlockScales} is a float scale per 2-D block where MXFP4 needs an
 *       exponent byte per 32 values. The CPU kernel decodes codes with a lane permute inside the dot product;
 *       Vulkan runs it on the host for now.</li>
 *   <li><b>Attention sinks and windows are one op</b>, {@link ai.parallax.tensors.ops.Ops#pagedAttentionWithSinks}:
 *       the same paged layout as the other models, plus a window and a per-head sink logit.</li>
 *   <li><b>Sliding layers' KV.</b> A single-sequence cache gives each sliding layer a ring of
 *       {@code 2 · sliding_window} rows (a block table that repeats), so its memory is fixed past the window. The
 *       serving engine's paged cache keeps every position of every layer (the engine owns the block tables and
 *       sizes them per sequence, for all layers alike); sliding layers simply read only their window there. Saving
 *       that memory in the paged pool needs a second, per-window block allocator in the engine.</li>
 *   <li><b>YaRN</b> ({@link ai.parallax.models.gptoss.YarnRope}) feeds its frequencies and attention factor to the
 *       shared {@link ai.parallax.models.RotaryTables}; cos and sin carry the factor.</li>
 *   <li><b>Routing</b> reuses {@link ai.parallax.models.moe.ExpertRouter}: softmax over the top k logits equals the
 *       renormalised top k of a softmax over all experts.</li>
 * </ul>
 */
package ai.parallax.models.gptoss;
