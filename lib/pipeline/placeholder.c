/* Placeholder until the pipeline layer lands; delete when adding real sources. */
typedef int pt__pipeline_placeholder;
