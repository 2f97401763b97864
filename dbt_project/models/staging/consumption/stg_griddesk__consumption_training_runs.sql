with

source as (

    select * from {{ source('griddesk_consumption', 'consumption_training_runs') }}

),

renamed as (

    select

        ----------  ids
        market_code,
        meter_id,
        run_id,

        ---------- time
        delivery_date_local,
        cutoff_utc,

        ---------- outcome
        status,
        reason,
        is_clean,
        n_clean_hours,
        flag_counts,
        level_shifts,
        refitted_models,
        champion_model_name,
        champion_reason,

        ---------- audit
        audit_recorded_at_utc

    from source

)

select * from renamed
