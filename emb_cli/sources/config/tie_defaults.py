"""transformers' default for `tie_word_embeddings` when config.json omits the key.

Generated from transformers 5.25.0 (constraints.txt pins it): each model_type of
CONFIG_MAPPING_NAMES instantiated with no arguments (`AutoConfig.for_model(t)`, or the
class default where a config will not build without arguments); tests/sources/test_spec.py
checks every one. In transformers 5 the base config has no tie flag: a type whose config
class sets none (vision and audio towers) is never tied (`getattr(config,
"tie_word_embeddings", False)` in modeling_utils).
"""

from __future__ import annotations

TRANSFORMERS_VERSION = "5.25.0"

TIED_BY_DEFAULT = frozenset(
    """
    albert aya_vision bart bert bert-generation big_bird bigbird_pegasus biogpt blenderbot
    blenderbot-small blip blip_text_model bloom camembert canary cohere cohere2 cohere2_moe
    cohere2_vision cohere_compass_text convbert cpmant csm ctrl d_fine dab-detr
    data2vec-text deberta deberta-v2 deepseek_vl deepseek_vl_hybrid deformable_detr deimv2
    diffusion_gemma diffusion_gemma_text distilbert electra ernie ernie4_5 ernie4_5_moe
    ernie4_5_vl_moe ernie4_5_vl_moe_text esm falcon falcon_mamba flaubert flava florence2
    fnet fun_asr_nano funnel gemma gemma2 gemma3 gemma3_text gemma3n gemma3n_text gemma4
    gemma4_assistant gemma4_text gemma4_unified gemma4_unified_assistant gemma4_unified_text
    glmasr got_ocr2 gpt-sw3 gpt2 gpt_bigcode gpt_neo gpt_neox_japanese granite_docling
    granite_docling_text granite_speech granite_speech5_ctc granite_speech_plus granite_swa
    grounding-dino gte hunyuan_vl hunyuan_vl_text hyperclovax_vision_v2 ibert internvl janus
    jetmoe jina_embeddings_v3 kimi_k25 kosmos-2 kosmos-2.5 kosmos_2_5_text_model
    kosmos_2_text_model lara_mini layoutlm led lfm2 lfm2_moe lfm2_vl lfm3 lfm3_vl
    lighton_ocr longformer longt5 luke lxmert m2m_100 mamba marian mbart megatron-bert mimi
    mimi_decoder mimi_encoder minicpm3 minicpm_ocr mistral3 mm-grounding-dino mobilebert
    modernbert modernbert-decoder moonshine moss_transcribe_diarize mpnet mpt mra mt5 mvp
    neomme nllb-moe nomic_bert nystromformer openai-gpt opt ovis2 paddleocr_vl
    paddleocr_vl_text paligemma param2moe pe_audio_video pegasus pegasus_x plbart pop2piano
    pp_chart2table pp_doclayout_v3 pp_doclayout_v4 prophetnet qwen2_5_omni_text qwen3_asr
    qwen3_vl_moe_text recurrent_gemma roberta roberta-prelayernorm roc_bert roformer
    rt_detr_v2 sam sam_hq seamless_m4t seamless_m4t_v2 shieldgemma2 smollm3 speech_to_text
    speecht5 squeezebert starcoder2 switch_transformers t5 t5_gemma_module t5gemma t5gemma2
    t5gemma2_decoder t5gemma2_encoder t5gemma2_text tapas trocr udop umt5 vaultgemma vilt
    visual_bert voxtral_realtime whisper xglm xlm xlm-roberta xlm-roberta-xl xlnet xmod yoso
    youtu zamba zamba2 zaya
    """.split()
)
# And the remote-code (trust_remote_code) internlm2, kimi_k2 and minicpm, untied in their
# own config classes.
UNTIED_BY_DEFAULT = frozenset(
    """
    EvollaModel afmoe apertus apertus1p5 apertus1p5_text arcee aria aria_text axk1 axk2
    bailing_hybrid bamba beam bitnet blt blt_global_transformer blt_local_decoder
    blt_local_encoder blt_patcher bridgetower chameleon codegen cohere_asr cohere_compass
    cosmos3_edge cosmos3_edge_text cosmos3_omni cwm dbrx deepseek_ocr2 deepseek_ocr2_encoder
    deepseek_ocr2_text deepseek_v2 deepseek_v3 deepseek_v32 deepseek_v4 diffllama doge dory
    dots1 dots3_note dots3_note_text emu3 emu3_text_model esmc eurobert evolla exaone
    exaone4 exaone4_5 exaone_moe falcon_h1 fast_vlm flex_olmo flint fsmt fuyu git glm glm4
    glm46v glm4_moe glm4_moe_lite glm4v glm4v_moe glm4v_moe_text glm5_next glm5_next_text
    glm_image glm_moe_dsa glm_ocr glmga gpt_neox gpt_oss gptj granite granite4_vision
    granite4_vision_text granitemoe granitemoe_swa granitemoehybrid granitemoeshared helium
    higgs_audio_v2 hrm_text hunyuan_v1_dense hunyuan_v1_moe hy_v3 hy_v4 hy_v4_vl
    hy_v4_vl_text hyperclovax idefics idefics2 idefics3 imagegpt internlm3 iquestcoder jais2
    jamba kimi_linear kolibri1 kolibri1_1 kyutai_speech_to_text laguna llama llama4
    llama4_text llava llava_next llava_next_video llava_onevision llava_onevision1_5
    longcat_flash mamba2 mellum mimo_v2_flash minicpm5_moe minicpmv4_6 minicpmv4_7 minimax
    minimax_m2 minimax_m3_vl minimax_m3_vl_text ministral ministral3 mistral mistral4
    mistral_large4 mistral_large4_text mixtral mllama_text_model modernvbert molmo2
    molmo2_text moonshine_streaming moshi moshi_depth muse_glimmer_text muse_spark_text
    musicgen_decoder musicgen_melody_decoder nanochat nemotron nemotron_h neucodec olmo
    olmo2 olmo3 olmo_hybrid olmoe openai_privacy_filter ovis2_5 perception_lm persimmon phi
    phi3 phi4_multimodal phimoe pix2struct pix2struct_text_model pp_formulanet_text
    qianfan_ocr qwen2 qwen2_5_omni_talker qwen2_5_omni_thinker qwen2_5_vl qwen2_moe qwen2_vl
    qwen3 qwen3_5 qwen3_5_moe qwen3_5_moe_text qwen3_5_text qwen3_moe qwen3_next
    qwen3_omni_moe_talker_code_predictor qwen3_omni_moe_talker_text qwen3_omni_moe_thinker
    qwen3_vl qwen3_vl_moe qwen4_exp qwen4_exp_text reformer rembert rwkv sarvam_mla
    sarvam_moe seed_oss smolvlm solar_open stablelm step3p5 ultrabert ultravbert
    unlimited_ocr unlimited_ocr_text vibevoice video_llama_3 video_llava vipllava xcodec2
    xlstm internlm2 kimi_k2 minicpm
    """.split()
)
# Types whose config class has no tie flag at all.
NO_TIE_FLAG = frozenset(
    """
    aimv2 aimv2_text_model aimv2_vision_model align align_text_model align_vision_model
    altclip altclip_text_model altclip_vision_model apertus1p5_vision_tokenizer
    audio-spectrogram-transformer audioflamingo3 audioflamingo3_encoder autoformer bark beit
    bit blip-2 blip_2_qformer blip_2_vision_model blip_vision_model bridgetower_text_model
    bridgetower_vision_model bros canary_decoder canine chameleon_vqgan chinese_clip
    chinese_clip_text_model chinese_clip_vision_model chmv2 clap clap_audio_model
    clap_text_model clip clip_text_model clip_vision_model clipseg clipseg_text_model
    clipseg_vision_model clvp clvp_decoder clvp_encoder cohere_compass_vision colmodernvbert
    colpali colqwen2 conditional_detr convnext convnextv2 cosmos3_edge_vision
    csm_depth_decoder_model cvt dac data2vec-audio data2vec-vision decision_transformer
    deepseek_ocr2_sam_vision_model deepseek_ocr2_vision deit depth_anything depth_pro detr
    dia dia_decoder dia_encoder dinat dinov2 dinov2_with_registers dinov3_convnext
    dinov3_vit donut-swin dots3_note_audio_encoder dots3_note_vision_encoder dpr dpt edgetam
    edgetam_mask_decoder edgetam_prompt_encoder edgetam_video edgetam_video_mask_decoder
    edgetam_video_prompt_encoder edgetam_vision_model efficientloftr efficientnet
    embedding_gemma2 embedding_gemma2_text emu3_vqgan encodec encoder-decoder eomt
    eomt_dinov3 ergo ernie4_5_vl_moe_vision esmfold2 exaone4_5_vision fastspeech2_conformer
    fastspeech2_conformer_hifigan fastspeech2_conformer_with_hifigan flava_image_codebook
    flava_image_model flava_multimodal_model flava_text_model florence_vision focalnet
    fun_asr_nano_encoder gemma3n_audio gemma3n_vision gemma4_audio gemma4_unified_audio
    gemma4_unified_vision gemma4_vision git_vision_model glm4v_moe_vision glm4v_text
    glm4v_vision glm5_next_vision glm_image_text glm_image_vision glm_image_vqmodel
    glm_ocr_text glm_ocr_vision glmasr_encoder glpn got_ocr2_vision gradium_phonon_tts
    granite_docling_vision granite_speech5_encoder granite_speech_encoder
    granite_speech_plus_encoder groupvit groupvit_text_model groupvit_vision_model hgnet_v2
    hiera higgs_audio_v2_tokenizer hubert hunyuan_vl_vision hy_v4_vl_vision
    idefics2_perceiver idefics2_vision idefics3_vision idefics_perciever idefics_vision
    ijepa informer inkling2 inkling2_loop inkling2_loop_text inkling2_text inkling2_vision
    inkling_audio inkling_mm_model inkling_text inkling_vision instructblip
    instructblip_qformer instructblip_vision_model instructblipvideo
    instructblipvideo_qformer instructblipvideo_vision_model internvl_vision
    janus_vision_model janus_vqgan jev kimi_k25_vision kosmos_2_5_vision_model
    kosmos_2_vision_model lasr_ctc lasr_encoder layoutlmv2 layoutlmv3 layoutxlm levit
    lfm3_vl_vision lightglue lilt llama4_vision_model llava_onevision1_5_vision lw_detr
    lw_detr_vit markuplm mask2former maskformer maskformer-swin metaclip_2
    metaclip_2_text_model metaclip_2_vision_model mgp-str minicpm_ocr_vision
    minicpmv4_6_vision minicpmv4_7_vision minimax_m3_vl_vision mlcd mlcd_vision_model mllama
    mllama_vision_model mobilenet_v1 mobilenet_v2 mobilevit mobilevitv2 molmo2_adapter
    molmo2_vision moonshine_streaming_encoder moss_transcribe_diarize_audio muse_glimmer
    muse_glimmer_assistant muse_glimmer_vision muse_spark muse_spark_audio muse_spark_vision
    musicflamingo musicgen musicgen_melody nemo_speechlm nemotron3_5_asr
    nemotron3_5_transcribe_asr_audio nemotron3_5_transcribe_audio
    nemotron3_5_transcribe_word_timestamp nemotron3_diarization nemotron3_diarization_audio
    nemotron_asr_streaming nemotron_asr_streaming_encoder nemotron_h_omni nougat omdet-turbo
    omniasr omniasr_audio omniasr_ctc oneformer ovis2_5_vision ovis2_vision owlv2
    owlv2_text_model owlv2_vision_model owlvit owlvit_text_model owlvit_vision_model
    paddleocr_vl_vision parakeet_ctc parakeet_encoder parakeet_rnnt parakeet_tdt
    patchtsmixer patchtst pe_audio pe_audio_encoder pe_audio_video_encoder pe_video
    pe_video_encoder perceiver phi4_multimodal_audio phi4_multimodal_vision pi0 pi05
    pix2struct_vision_model pixio pixtral pocket_tts pocket_tts_audio_tokenizer
    pocket_tts_audio_tokenizer_decoder pocket_tts_audio_tokenizer_encoder poolformer
    pp_chart2table_vision pp_doclayout_v2 pp_formulanet pp_formulanet_vision pp_lcnet
    pp_lcnet_v3 pp_lcnet_v4 pp_ocrv5_mobile_det pp_ocrv5_mobile_rec pp_ocrv5_server_det
    pp_ocrv5_server_rec pp_ocrv6_medium_det pp_ocrv6_small_det pp_ocrv6_small_rec
    pp_ocrv6_tiny_rec prompt_depth_anything pvt pvt_v2 qianfan_ocr_vision qwen2_5_omni
    qwen2_5_omni_audio_encoder qwen2_5_omni_bigvgan qwen2_5_omni_dit qwen2_5_omni_token2wav
    qwen2_5_omni_vision_encoder qwen2_5_vl_text qwen2_5_vl_vision qwen2_audio
    qwen2_audio_encoder qwen2_vl_text qwen2_vl_vision qwen3_5_moe_vision qwen3_5_vision
    qwen3_asr_encoder qwen3_omni_moe qwen3_omni_moe_audio_encoder qwen3_omni_moe_text
    qwen3_omni_moe_vision_encoder qwen3_vl_moe_vision qwen3_vl_text qwen3_vl_vision
    qwen4_exp_vision radio rag regnet resnet rf_detr rf_detr_dinov2 rt_detr rt_detr_resnet
    sam2 sam2_hiera_det_model sam2_mask_decoder sam2_prompt_encoder sam2_video
    sam2_video_mask_decoder sam2_video_prompt_encoder sam2_vision_model sam3
    sam3_detr_decoder sam3_detr_encoder sam3_geometry_encoder sam3_lite_text
    sam3_lite_text_detr_decoder sam3_lite_text_detr_encoder sam3_lite_text_geometry_encoder
    sam3_lite_text_mask_decoder sam3_lite_text_text_model sam3_mask_decoder sam3_tracker
    sam3_tracker_mask_decoder sam3_tracker_prompt_encoder sam3_tracker_video
    sam3_tracker_video_mask_decoder sam3_tracker_video_prompt_encoder sam3_video
    sam3_vision_model sam3_vit_model sam_hq_mask_decoder sam_hq_prompt_encoder
    sam_hq_vision_model sam_mask_decoder sam_prompt_encoder sam_vision_model sapiens2
    sapiens2_head segformer seggpt sew sew-d siglip siglip2 siglip2_text_model
    siglip2_vision_model siglip_text_model siglip_vision_model slanet slanext slanext_vision
    smolvlm_vision speech-encoder-decoder speecht5_hifigan splinter step3p5_vision step3p7
    superglue superpoint swiftformer swin swin2sr swinv2 table-transformer textnet
    time_series_transformer timesfm timesfm2_5 timesformer timm_backbone timm_wrapper tipsv2
    tipsv2_dpt tipsv2_text_model tipsv2_vision_model tvp unispeech unispeech-sat univnet
    unlimited_ocr_sam_vision_model unlimited_ocr_vision unlimited_ocr_vision_encoder upernet
    uvdoc uvdoc_backbone vibevoice_acoustic_tokenizer vibevoice_acoustic_tokenizer_decoder
    vibevoice_acoustic_tokenizer_encoder vibevoice_asr vibevoice_diffusion
    video_llama_3_vision videomae videomt videoprism videoprism_text_model
    videoprism_vision_model vision-encoder-decoder vision-text-dual-encoder vit vit_mae
    vit_msn vitdet vitmatte vitpose vitpose_backbone vits vivit vjepa2 voxtral
    voxtral_encoder voxtral_realtime_encoder voxtral_realtime_text wav2vec2 wav2vec2-bert
    wav2vec2-conformer wavlm wavtokenizer wavtokenizer_encoder xclip xclip_text_model
    xclip_vision_model xcodec yolos zoedepth
    """.split()
)
